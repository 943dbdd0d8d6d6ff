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
