"""Virtual posts against a real mosquitto: each profile's telemetry, commands, faults, control."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from edge.profiles.codec import DecodeError, render_command
from edge.sim.charging import ChargerSpec
from edge.sim.faults import Fault, FaultKind
from edge.sim.posts import PostSimulator, SimOptions
from tests.broker.harness import Broker
from tests.sim.simkit import (
    FAST,
    RawProbe,
    SiteUnderTest,
    decoded,
    port_values,
    sane_current,
    site_with_three_vendors,
)

HANG_GUARD_S = 15.0  # a guard against a hung simulator, not a speed limit
STEADY = ChargerSpec(cc_a=2.0, cc_s=36_000.0, taper_s=3600.0, trickle_a=0.08)
POSTS = ("P01", "P02", "P03")
VENDORS = pytest.mark.parametrize("post", POSTS, ids=["gridedge-post", "tasmota-energy",
                                                      "shelly-gen2"])

Scenario = Callable[[SiteUnderTest, PostSimulator, RawProbe], Awaitable[None]]


def _run(broker: Broker, site_id: str, write_config: Callable[..., Path], scenario: Scenario,
         posts: tuple[str, ...] = POSTS, speed: float = 1.0) -> None:
    site = site_with_three_vendors(broker, site_id, write_config)
    filters = [f for post in posts for f in site.filters(post)]
    filters += [f"{site.config.mqtt.topic_root}-{site_id}/rpc",
                f"{site.config.mqtt.topic_root}/{site_id}/#"]
    probe = RawProbe(broker, filters)

    async def main() -> None:
        options = SimOptions(interval_s=FAST, speed=speed, seed=7, posts=posts)
        async with PostSimulator(site.config, site.profiles, options) as sim:
            assert await sim.wait_connected(HANG_GUARD_S)
            for post in posts:  # a charger on port 4 of every post, for the duration
                port = sim.post(post).ports[3]
                port.plug_in(STEADY)
                port.keep_plugged()
            # The steady charger shows in telemetry: it was plugged in, and the post has
            # subscribed to its commands (SUBSCRIBE went out before its first telemetry).
            assert await _wait(probe, lambda: all(
                any(v > 1.5 for v in _values(site, post, probe, 4, "current_a"))  # noqa: PLR2004
                for post in posts))
            await scenario(site, sim, probe)

    try:
        asyncio.run(main())
    finally:
        probe.close()


async def _wait(probe: RawProbe, check: Callable[[], bool]) -> bool:
    return await asyncio.to_thread(probe.wait_for, lambda _m: check(), HANG_GUARD_S)


def _values(site: SiteUnderTest, post: str, probe: RawProbe, port: int, key: str,
            start: int = 0) -> list[object]:
    messages = [(t, p, False) for t, p in probe.since(start)]
    return port_values(site, post, messages, port, key)


def _cutoff(site: SiteUnderTest, post: str, port: int) -> tuple[str, bytes]:
    topic, payload, _qos = render_command(
        site.profile(post), "port_off",
        {"device": site.device(post), "port": port, "request_id": 41, "reason": "test"},
        root=site.config.mqtt.topic_root, site=site.config.site.id)
    return topic, payload


@VENDORS
def test_telemetry_decodes_into_sane_readings(broker: Broker, site_id: str,
                                              write_config: Callable[..., Path], post: str) -> None:
    """Test that each profile's telemetry decodes with the daemon's decoder into sane readings."""

    async def scenario(site: SiteUnderTest, _sim: PostSimulator, probe: RawProbe) -> None:
        assert await _wait(probe, lambda: len(_values(site, post, probe, 10, "current_a")) >= 3)
        ports: dict[int, dict[str, object]] = {}
        stamps = []
        for topic, payload in probe.since(0):
            found = decoded(site, post, topic, payload)
            if found is None or found.availability is not None:
                continue
            assert not found.problems, found.problems
            if found.ts is not None:
                stamps.append(found.ts)
            for number, values in found.ports.items():
                ports.setdefault(number, {}).update(values)
        assert sorted(ports) == list(range(1, 11))
        for values in ports.values():
            assert sane_current(values["current_a"])
            assert 0 <= values["current_a"] < 3  # noqa: PLR2004 - chargers draw 1-3 A
            assert 210 < values.get("voltage_v", 220) < 230  # noqa: PLR2004 - 220 V ± 3 %
            assert values["energy_kwh"] > 0
        assert 1.9 < ports[4]["current_a"] < 2.1  # noqa: PLR2004 - the steady 2 A charger
        assert ports[4]["on"] is True
        # Sample times are this moment in the site's time zone (Tasmota sends local time).
        assert stamps and all(abs(ts - time.time()) < 60 for ts in stamps)  # noqa: PLR2004

    _run(broker, site_id, write_config, scenario, posts=(post,))


@VENDORS
def test_cutoff_in_the_profiles_format_turns_the_port_off(
        broker: Broker, site_id: str, write_config: Callable[..., Path], post: str) -> None:
    """Test that the daemon's cut-off command, in each profile's format, switches the port off."""

    async def scenario(site: SiteUnderTest, _sim: PostSimulator, probe: RawProbe) -> None:
        assert await _wait(probe, lambda: any(
            v > 1.5 for v in _values(site, post, probe, 4, "current_a")))  # noqa: PLR2004
        start = len(probe.raw)
        topic, payload = _cutoff(site, post, 4)
        await asyncio.to_thread(probe.publish, topic, payload.decode())
        assert await _wait(probe, lambda: False in _values(site, post, probe, 4, "on", start))
        mark = len(probe.raw)
        assert await _wait(probe, lambda: len(_values(site, post, probe, 4, "current_a",
                                                      mark)) >= 2)
        assert all(v < 0.05 for v in _values(site, post, probe, 4, "current_a", mark))  # noqa: PLR2004
        if post == "P03":  # Shelly answers the RPC on <src>/rpc
            reply = probe.last(f"{site.config.mqtt.topic_root}-{site.config.site.id}/rpc")
            assert reply is not None and '"was_on":true' in reply and '"id":41' in reply

    _run(broker, site_id, write_config, scenario, posts=(post,))


@VENDORS
def test_stuck_relay_ignores_the_cutoff(broker: Broker, site_id: str,
                                        write_config: Callable[..., Path], post: str) -> None:
    """Test that with a welded relay the port reports off but current keeps flowing."""

    async def scenario(site: SiteUnderTest, sim: PostSimulator, probe: RawProbe) -> None:
        sim.inject(post, Fault(FaultKind.STUCK_RELAY, port=4))
        start = len(probe.raw)
        topic, payload = _cutoff(site, post, 4)
        await asyncio.to_thread(probe.publish, topic, payload.decode())
        assert await _wait(probe, lambda: False in _values(site, post, probe, 4, "on", start))
        mark = len(probe.raw)
        assert await _wait(probe, lambda: len(_values(site, post, probe, 4, "current_a",
                                                      mark)) >= 3)
        assert all(v > 1.5 for v in _values(site, post, probe, 4, "current_a", mark))  # noqa: PLR2004

    _run(broker, site_id, write_config, scenario, posts=(post,))


@VENDORS
def test_garbage_fault_sends_payloads_the_decoder_rejects(
        broker: Broker, site_id: str, write_config: Callable[..., Path], post: str) -> None:
    """Test that sensor garbage is unreadable or insane for the daemon's decoder, every message."""

    async def scenario(site: SiteUnderTest, sim: PostSimulator, probe: RawProbe) -> None:
        assert await _wait(probe, lambda: len(_values(site, post, probe, 4, "current_a")) >= 1)
        sim.inject(post, Fault(FaultKind.GARBAGE))
        start = len(probe.raw)
        topic = sim.post(post).dialect.garbage_topic()
        assert await _wait(probe, lambda: sum(t == topic for t, _ in probe.since(start)) >= 10)
        sim.inject(post, Fault(FaultKind.CLEAR))
        verdicts = [_verdict(site, post, t, p) for t, p in probe.since(start) if t == topic]
        while verdicts and verdicts[0] == "sane":  # telemetry in flight when garbage began
            verdicts.pop(0)
        turn = verdicts[:7]  # every kind of garbage once
        assert len(turn) == 7  # noqa: PLR2004
        assert "sane" not in turn
        reasons = set(turn)
        assert {"not_json", "not_utf8", "oversized"} <= reasons
        assert "insane" in reasons

    _run(broker, site_id, write_config, scenario, posts=(post,))


def _verdict(site: SiteUnderTest, post: str, topic: str, payload: bytes) -> str:
    """The DecodeError reason, "insane" for values the daemon must reject, or "sane"."""
    try:
        found = decoded(site, post, topic, payload)
    except DecodeError as err:
        return err.reason
    assert found is not None
    currents = [v.get("current_a") for v in found.ports.values()]
    return "insane" if found.problems or not all(sane_current(c) for c in currents) else "sane"


def test_silence_stops_telemetry_without_going_offline(
        broker: Broker, site_id: str, write_config: Callable[..., Path]) -> None:
    """Test that a silenced post publishes nothing more and its availability stays online."""

    async def scenario(site: SiteUnderTest, sim: PostSimulator, probe: RawProbe) -> None:
        p01 = site.config.mqtt.topic_root + f"/{site_id}/posts/P01/"
        assert await _wait(probe, lambda: probe.count(p01 + "telemetry") >= 2)
        sim.inject("P01", Fault(FaultKind.SILENCE))
        tasmota = f"tele/{site.device('P02')}/SENSOR"
        mark = probe.count(tasmota)
        assert await _wait(probe, lambda: probe.count(tasmota) >= mark + 2)
        start = len(probe.raw)
        assert await _wait(probe, lambda: probe.count(tasmota) >= mark + 6)
        assert not [t for t, _ in probe.since(start) if t.startswith(p01)]
        assert probe.last(p01 + "availability") == "online"

    _run(broker, site_id, write_config, scenario, posts=("P01", "P02"))


def test_control_topic_injects_and_clears_faults(
        broker: Broker, site_id: str, write_config: Callable[..., Path]) -> None:
    """Test that JSON on sim/posts/<id>/fault steps a port's current, and bad JSON is counted."""

    async def scenario(site: SiteUnderTest, sim: PostSimulator, probe: RawProbe) -> None:
        control = f"{site.config.mqtt.topic_root}/{site_id}/sim/posts/P01/fault"
        await asyncio.to_thread(probe.publish, control, "not a fault")
        await asyncio.to_thread(probe.publish, control, '{"kind": "step", "port": 2, "amps": 12}')
        assert await _wait(probe, lambda: any(
            v > 11 for v in _values(site, "P01", probe, 2, "current_a")))  # noqa: PLR2004
        start = len(probe.raw)
        await asyncio.to_thread(probe.publish, control, '{"kind": "clear"}')
        assert await _wait(probe, lambda: any(
            v < 3 for v in _values(site, "P01", probe, 2, "current_a", start)))  # noqa: PLR2004
        assert sim.stats["bad_faults"] == 1

    _run(broker, site_id, write_config, scenario, posts=("P01",))


def test_shelly_trips_on_its_own_limit_and_reports_errors(
        broker: Broker, site_id: str, write_config: Callable[..., Path]) -> None:
    """Test that a Shelly channel above its current limit opens and lists overcurrent in errors."""

    async def scenario(site: SiteUnderTest, sim: PostSimulator, probe: RawProbe) -> None:
        sim.inject("P03", Fault(FaultKind.STEP, port=4, amps=20))
        topic = f"{site.device('P03')}/status/switch:3"
        # The delta (NotifyStatus) can carry the error before the next full status does.
        assert await _wait(probe, lambda: "overcurrent" in (probe.last(topic) or ""))
        status = probe.last(topic)
        assert status is not None
        found = decoded(site, "P03", f"{site.device('P03')}/status/switch:3", status)
        assert found is not None
        assert found.ports[4]["on"] is False
        assert found.ports[4]["current_a"] == 0
        assert found.ports[4]["fault"] == "overcurrent"
        assert not math.isnan(found.ports[4]["temp_c"])

    _run(broker, site_id, write_config, scenario, posts=("P03",))


@pytest.mark.parametrize("post", ["P02", "P03"], ids=["tasmota-energy", "shelly-gen2"])
def test_virtual_post_answers_the_status_query(broker: Broker, site_id: str,
                                               write_config: Callable[..., Path], post: str) -> None:
    """Test that the profile's port_status query (Shelly status_update, Tasmota empty POWER<n>) makes a post with hour-long telemetry intervals report port 4."""
    site = site_with_three_vendors(broker, site_id, write_config)
    probe = RawProbe(broker, site.filters(post))

    async def main() -> None:
        options = SimOptions(interval_s=3600.0, speed=1.0, seed=7, posts=(post,))
        async with PostSimulator(site.config, site.profiles, options) as sim:
            assert await sim.wait_connected(HANG_GUARD_S)
            # Connected and subscribed: its first messages are out (LWT, status on connect).
            assert await _wait(probe, lambda: len(probe.raw) > 0)
            await asyncio.sleep(0)
            start = len(probe.raw)
            topic, payload, _qos = render_command(
                site.profile(post), "port_status",
                {"device": site.device(post), "port": 4, "request_id": 0, "reason": "test"},
                root=site.config.mqtt.topic_root, site=site.config.site.id)
            await asyncio.to_thread(probe.publish, topic, payload.decode())
            assert await _wait(probe, lambda: _values(site, post, probe, 4, "on", start) != [])

    try:
        asyncio.run(main())
    finally:
        probe.close()
