"""The district proof (issue 17): three sites on a 3-node NATS cluster, one street office.

Each site is real processes: its own mosquitto bridged with the block `gridedge district
uplink-config` generates, `gridedge run`, and `gridedge simulate` (one gate speaker, one post).
The street office's service runs here. It shows that a district announcement plays once at every
targeted gate (and nowhere else, even when it is delivered twice), that a trip at one site
reaches the district view and, unacknowledged, the street office, whose acknowledgement reaches
the site, and that killing the NATS node a site is bridged to loses none of its messages.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.district.config import load_district_config
from edge.district.service import DistrictService
from tests.district.cluster import NatsCluster
from tests.district.conftest import NEEDS_CLUSTER, Receiver, node_endpoint, write_district_config
from tests.district.sites import STREET_OFFICE, Site
from tests.edge.mqtt_probe import Probe

pytestmark = [NEEDS_CLUSTER, pytest.mark.timeout(180)]
HANG_GUARD_S = 60.0  # a guard against a hang, not a speed limit
COUNTED = 40
PENSION = "养老保险月底截止"


async def until(check: Callable[[], object], what: str, timeout: float = HANG_GUARD_S) -> None:
    """Wait until check() is true (a hang guard, not a speed limit)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not reached: {what}"
        await asyncio.sleep(0.1)


def _plays(probe: Probe) -> int:
    return sum(1 for t, p, _ in probe.messages
               if t.endswith("/cmd") and json.loads(p).get("action") == "play")


@pytest.mark.long
def test_district_proof(nats_cluster: NatsCluster, tmp_path: Path, site_id: str,
                        site_environ: dict[str, str]) -> None:
    del site_environ
    nodes = [f"127.0.0.1:{n.mqtt_port}" for n in nats_cluster.nodes]
    # Each site prefers another node, with the next one as its failover.
    sites = [Site(f"{site_id}-{i}", tmp_path / f"site{i}", [nodes[i], nodes[(i + 1) % 3]])
             for i in range(3)]
    a, b, c = sites
    opened: list[Probe] = []

    async def main() -> None:
        receiver = Receiver()
        await receiver.start()
        config = load_district_config(write_district_config(
            tmp_path, nats_cluster, node=1, channels=[receiver.url], after_min=0.02,
            sites={s.id: f"小区{i}" for i, s in enumerate(sites)}))
        service = DistrictService(config, settle_s=0.5, tick_s=0.2)
        await service.start()
        try:
            for site in sites:
                site.start(posts=site is a)
            speakers = {}
            for site in sites:
                speakers[site.id] = Probe(site.broker, f"gridedge/{site.id}/speakers/+/cmd")
                opened.append(speakers[site.id])
            view = service.view

            def ready(site: Site) -> bool:
                s = view.sites.get(site.id)
                return bool(s and s.online and "P01" in s.posts)

            for site in sites:
                await until(lambda s=site: ready(s), f"{site.id} in the district view "
                            f"{site.broker.log[-800:]} {site.log()[-1500:]}")

            # -- an announcement to two of the three sites, delivered twice -----------------------
            service.announce([a.id, b.id], PENSION,
                             priority="emergency", ident="pension-1")
            for site in (a, b):
                await until(lambda s=site: s.plays("announce:pension-1") == [("east_gate",
                                                                              "played")],
                            f"pension-1 played at {site.id}: {site.log()[-2000:]}")
            service.announce([a.id, b.id], PENSION,
                             priority="emergency", ident="pension-1")
            # The speaker's queue is in order: once this later one played, a second play of the
            # first would have been sent before it.
            service.announce([a.id, b.id], "请注意", priority="emergency", ident="marker-2")
            for site in (a, b):
                await until(lambda s=site: s.plays("announce:marker-2") == [("east_gate",
                                                                             "played")],
                            f"marker-2 played at {site.id}")
                assert _plays(speakers[site.id]) == 2  # noqa: PLR2004 - one each, no repeat
            assert c.plays("announce:pension-1") == []
            assert _plays(speakers[c.id]) == 0

            # -- a trip at one site: district view, street office, acknowledgement down -------------
            probe_a = Probe(a.broker, f"gridedge/{a.id}/alerts/#")
            opened.append(probe_a)
            probe_a.publish(f"gridedge/{a.id}/sim/posts/P01/fault",
                            json.dumps({"kind": "step", "port": 3, "amps": 40}))

            def trip() -> dict | None:
                found = [al for s, al in view.open_alerts()
                         if s == a.id and al.get("kind") == "overcurrent"]
                return found[0] if found else None

            await until(trip, f"the trip in the district view: {a.log()[-2000:]}")
            alert = trip()
            assert alert is not None and alert["port"] == 3  # noqa: PLR2004
            assert [(s, al["id"]) for s, al in view.open_alerts() if s != a.id] == []
            await until(lambda: any(b.get("gridedge_id") == f"district-{a.id}-{alert['id']}"
                                    for b in receiver.bodies), "the street office paged")
            service.acknowledge(a.id, alert["id"], STREET_OFFICE, "街道已安排人员")
            await until(lambda: (trip() or {}).get("state") == "acknowledged",
                        f"the site took the district's acknowledgement: {a.log()[-2000:]}")
            assert (trip() or {}).get("acked_by") == STREET_OFFICE
            assert len([b for b in receiver.bodies if a.id in b.get("gridedge_id", "")]) == 1

            # -- kill the node site A is bridged to: nothing it sends is lost --------------------
            up = Probe(node_endpoint(nats_cluster, 1), f"gridedge/{a.id}/events")
            local = Probe(a.broker, f"gridedge/{a.id}/district/uplink")
            opened.extend([up, local])

            def counted() -> set[int]:
                return {json.loads(p)["n"] for _, p, _ in up.messages
                        if p.startswith('{"kind": "test.count"')}

            def send(numbers: range) -> None:
                for n in numbers:
                    local.publish(f"gridedge/{a.id}/events",
                                  json.dumps({"kind": "test.count", "n": n}))

            send(range(COUNTED))
            await until(lambda: counted() == set(range(COUNTED)), "the first half upstream")
            nats_cluster.kill_node(nats_cluster.nodes[0])
            send(range(COUNTED, 2 * COUNTED))  # while the bridge is down or failing over
            await until(lambda: counted() == set(range(2 * COUNTED)),
                        f"the second half upstream after the node died: {a.broker.log[-1500:]}")
            assert view.sites[a.id].posts["P01"]["online"] is True
        finally:
            await service.stop()
            await receiver.stop()
            for probe in opened:
                probe.close()
            for site in sites:  # all at once: each waits for its processes to exit
                site.terminate()
            for site in sites:
                site.stop()
            if nats_cluster.nodes[0].process is None:
                await asyncio.to_thread(nats_cluster.start_node, nats_cluster.nodes[0])

    asyncio.run(main())
