"""Fixtures of the district tests: the NATS cluster, site brokers bridged to it, probes on either."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from edge.config import load_config
from edge.district.uplink import uplink_config
from tests.broker.harness import Broker, has_mosquitto
from tests.conftest import site_config
from tests.district.cluster import NatsCluster, has_nats_server
from tests.edge.mqtt_probe import Probe

NEEDS_CLUSTER = pytest.mark.skipif(not (has_nats_server() and has_mosquitto()),
                                   reason="needs nats-server and mosquitto")


@dataclass(frozen=True)
class Endpoint:
    """Where a probe connects: one node of the cluster, or a site's broker."""

    host: str
    port: int


@pytest.fixture(scope="session")
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    """The district broker: three NATS nodes with JetStream and MQTT, shared by the session.

    A test that stops a node starts it again before it ends (``NatsCluster.start_node``).
    """
    if not has_nats_server():
        pytest.skip("needs nats-server")
    cluster = NatsCluster(tmp_path_factory.mktemp("nats"))
    cluster.start()
    yield cluster
    cluster.stop()


def node_endpoint(cluster: NatsCluster, index: int) -> Endpoint:
    """The MQTT endpoint of one node."""
    return Endpoint("127.0.0.1", cluster.nodes[index].mqtt_port)


@pytest.fixture
def probes() -> Iterator[Callable[..., Probe]]:
    """``probes(endpoint, filters)`` opens a probe that is closed after the test."""
    opened: list[Probe] = []

    def open_probe(endpoint: Endpoint | Broker, filters: str | list[str]) -> Probe:
        probe = Probe(endpoint, filters)  # type: ignore[arg-type]
        opened.append(probe)
        return probe

    yield open_probe
    for probe in opened:
        probe.close()


def district_site_config(site_id: str, broker: Broker, folder: Path,
                         upstreams: list[str], **district: object) -> Path:
    """A site's config.yaml (the shipped one, pointed at ``broker``) with a district: section."""
    data = site_config(site_id, broker, folder / "data")
    data["district"] = {"upstreams": upstreams, "retry_s": 1, **district}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def bridged_site(tmp_path: Path, site_id: str, site_environ: dict[str, str]):  # noqa: ANN201
    """``bridged_site(upstreams) -> (Broker, config path)``: a site mosquitto whose only extra
    configuration is the block ``gridedge district uplink-config`` generates."""
    del site_environ
    started: list[Broker] = []

    def start(upstreams: list[str], name: str = "site") -> tuple[Broker, Path]:
        folder = tmp_path / name
        folder.mkdir()
        broker = Broker(folder)
        config = district_site_config(site_id, broker, folder, upstreams)
        broker.extra_conf = "\n" + uplink_config(load_config(config), environ={})
        broker.start()
        started.append(broker)
        return broker, config

    yield start
    for broker in started:
        broker.stop()


def write_district_config(folder: Path, cluster: NatsCluster, node: int = 0, *,
                          token: str = "district-token", channels: list[str] | None = None,
                          after_min: float = 30.0, sites: dict[str, str] | None = None) -> Path:
    """A district.yaml pointed at one node of the cluster, HTTP on a free loopback port."""
    data = {"name": "中院街道",
            "broker": {"host": "127.0.0.1", "port": cluster.nodes[node].mqtt_port,
                       "protocol": "3.1.1", "keepalive_s": 5},
            "http": {"bind": "127.0.0.1", "port": 0, "token": token},
            "sites": sites or {},
            "escalation": {"after_min": after_min, "channels": channels or []}}
    path = folder / "district.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


class Receiver:
    """A loopback HTTP endpoint standing in for the street office's phone service (Apprise
    ``json://``): it records every JSON body it is sent."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.port = 0
        self._runner = None

    async def start(self) -> None:
        from aiohttp import web  # noqa: PLC0415

        async def receive(request: web.Request) -> web.Response:
            self.bodies.append(await request.json())
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_post("/{tail:.*}", receive)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    @property
    def url(self) -> str:
        """The Apprise URL that posts here."""
        return f"json://127.0.0.1:{self.port}/office"

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
