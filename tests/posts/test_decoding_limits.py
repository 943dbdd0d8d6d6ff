"""The compiled decoder agrees with the profile codec; limits merge profile → post → port with staff-readable errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from edge.config import ConfigError, load_config
from edge.posts import Curve
from edge.posts.decoding import FastDecoder
from edge.posts.settings import resolve
from edge.profiles import load_registry
from edge.profiles.codec import DecodeError, bind, decode
from tests.broker.harness import Broker
from tests.conftest import REPO
from tests.posts.harness import sections

TZ = ZoneInfo("Asia/Shanghai")
REGISTRY = load_registry()
INBOUND = [p for p in sorted((REPO / "tests" / "fixtures").rglob("*.json"))
           if "topic" in json.loads(p.read_text(encoding="utf-8"))
           and REGISTRY.get(json.loads(p.read_text(encoding="utf-8"))["profile"]).kind == "post"]


def _both(fixture: Path) -> tuple[object, object]:
    data = json.loads(fixture.read_text(encoding="utf-8"))
    profile = REGISTRY.get(data["profile"])
    payload = data["payload"]
    raw = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
    results = []
    for binding in bind(profile, data["device"], root="gridedge", site="jianyuan1"):
        fast = FastDecoder(profile, binding, TZ).decode(data["topic"], raw)
        slow = decode(profile, binding, data["topic"], raw, TZ)
        results.append((fast, slow))
    return results


@pytest.mark.parametrize("fixture", INBOUND, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}/{p.stem}")
def test_fast_decoder_reads_every_golden_fixture_like_the_codec(fixture: Path) -> None:
    """Test that the compiled decoder gives exactly the codec's result for every recorded post payload."""
    for fast, slow in _both(fixture):
        assert fast == slow


def test_fast_decoder_rejects_what_the_codec_rejects() -> None:
    """Test that unreadable payloads raise the same DecodeError reasons as the codec."""
    profile = REGISTRY.get("gridedge-post")
    binding = bind(profile, "P1", root="gridedge", site="s")[0]
    fast = FastDecoder(profile, binding, TZ)
    for payload, reason in [(b"\xff{", "not_utf8"), (b"{", "not_json"), (b" " * 70_000, "oversized")]:
        with pytest.raises(DecodeError) as err:
            fast.decode(binding.topic_filter, payload)
        assert err.value.reason == reason


def test_limits_merge_profile_then_post_then_port(broker: Broker, write_config: Callable[..., Path]) -> None:
    """Test that a port override beats the post's, which beats the profile's default."""
    devices = {"P1": {"name": "1号桩", "limits": {"tms": 0.2, "curve": "VI"},
                      "port_limits": {2: {"rated_current_a": 1.5, "instantaneous_a": None}}}}
    config = load_config(write_config(broker, **sections(devices)), profiles=REGISTRY)
    post = config.posts.devices["P1"]
    limits = resolve(REGISTRY.get(post.profile).limits, post.limits, post.port_limits, post.ports)
    assert limits.ports[1].curve is Curve.VI and limits.ports[1].tms == 0.2
    assert limits.ports[1].rated_current_a == 2.0  # the test defaults under posts.defaults
    assert limits.ports[2].rated_current_a == 1.5 and limits.ports[2].instantaneous_a is None
    assert limits.ports[2].tms == 0.2
    assert limits.cutoff_confirm_s == 0.5


def _problems(path: Path) -> list[str]:
    from edge.i18n import set_language

    set_language("en")
    with pytest.raises(ConfigError) as err:
        load_config(path, profiles=REGISTRY)
    return [str(p).split("config.yaml", 1)[1] for p in err.value.problems]


def test_bad_limits_are_reported_with_file_line_and_value(broker: Broker, write_config: Callable[..., Path]) -> None:
    """Test that impossible limits in config.yaml are reported as file:line: path: rule (got X)."""
    devices = {"P1": {"name": "1号桩", "limits": {"tms": -1, "curve": "XI"},
                      "port_limits": {2: {"rated_current_a": 4.0, "instantaneous_a": 3.0}}}}
    shown = _problems(write_config(broker, **sections(devices)))
    assert any(s.endswith(": posts.devices.P1.limits.tms: must be at least 0.01 (got -1)") for s in shown)
    assert any(s.endswith(": posts.devices.P1.limits.curve: must be one of: SI, VI, EI (got XI)")
               for s in shown)
    assert any(s.endswith(": posts.devices.P1.port_limits.2.instantaneous_a: must be above "
                          "rated_current_a (4.0), or null to switch the instantaneous element off")
               for s in shown)
    assert all(s.startswith(":") and s.split(":")[1].isdigit() for s in shown)


def test_port_limits_name_real_ports_and_port_settings(broker: Broker, write_config: Callable[..., Path]) -> None:
    """Test that a port block for a missing port, or holding a whole-post setting, is refused with its line."""
    missing = _problems(write_config(broker, **sections(
        {"P1": {"name": "1号桩", "port_limits": {7: {"rated_current_a": 3.0}}}})))
    assert [s.split(": ", 1)[1] for s in missing] == [
        "posts.devices.P1.port_limits.7: this post has ports 1 to 4; there is no port 7"]
    post_only = _problems(write_config(broker, **sections(
        {"P1": {"name": "1号桩", "port_limits": {2: {"total_current_a": 10}}}})))
    assert [s.split(": ", 1)[1] for s in post_only] == [(
        "posts.devices.P1.port_limits.2.total_current_a: 'total_current_a' is a setting of the "
        "whole post; write it under the post's 'limits:', not under one port")]
