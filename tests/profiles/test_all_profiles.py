"""Every file in device_profiles/: it loads, ids are unique, references resolve, fixtures decode."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from edge.config import ConfigError
from edge.i18n import set_language
from edge.profiles import ProfileKind, load_registry, profile_files
from edge.profiles.codec import bind, decode, render_command
from edge.profiles.transforms import DERIVATIONS, TRANSFORMS
from tests.conftest import REPO

FIXTURES = REPO / "tests" / "fixtures"
TZ = ZoneInfo("Asia/Shanghai")
REGISTRY = load_registry()
CASES = sorted(p for p in FIXTURES.rglob("*.json"))


def test_every_shipped_profile_loads() -> None:
    """Test that all shipped profiles load, with unique ids, and the five required ones exist."""
    files = [name for name, _ in profile_files()]
    assert len(files) == len(REGISTRY)
    assert {p.id for p in REGISTRY} >= {"gridedge-speaker", "tasmota-i2s", "gridedge-post",
                                        "tasmota-energy", "shelly-gen2"}


@pytest.mark.parametrize("profile", list(REGISTRY), ids=lambda p: p.id)
def test_profile_references_resolve(profile) -> None:  # noqa: ANN001
    """Test that aliases resolve, transforms and derivations exist, and kinds have what they need."""
    for alias in profile.aliases:
        assert REGISTRY.get(alias) is profile
    for message in profile.messages:
        fields = list(message.fields.values()) + (list(message.ports.fields.values())
                                                  if message.ports else [])
        for spec in fields:
            assert all(step.name in TRANSFORMS for step in spec.transform)
    assert all(name in DERIVATIONS for name in profile.derive)
    if profile.kind is ProfileKind.POST:
        assert "port_off" in profile.commands
    else:
        assert profile.audio is not None or "say" in profile.commands


@pytest.mark.parametrize("profile", list(REGISTRY), ids=lambda p: p.id)
def test_profile_has_a_golden_fixture(profile) -> None:  # noqa: ANN001
    """Test that each profile is proven by at least one recorded payload or command."""
    used = {json.loads(p.read_text(encoding="utf-8"))["profile"] for p in CASES}
    assert profile.id in used


def _payload(case: dict) -> bytes:
    payload = case["payload"]
    return (payload if isinstance(payload, str) else json.dumps(payload)).encode()


@pytest.mark.parametrize("path", CASES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_golden_fixture(path: Path) -> None:
    """Test that a recorded device payload decodes (or a command renders) as expected."""
    case = json.loads(path.read_text(encoding="utf-8"))
    profile = REGISTRY.get(case["profile"])
    if "command" in case:
        command = case["command"]
        values = dict(command["values"], device=case["device"])
        topic, payload, _ = render_command(profile, command["name"], values,
                                           root="gridedge", site="jianyuan1")
        expected = case["expected_command"]
        assert topic == expected["topic"]
        if isinstance(expected["payload"], str):
            assert payload.decode() == expected["payload"]
        else:
            assert json.loads(payload) == expected["payload"]
        return
    results = [decode(profile, b, case["topic"], _payload(case), TZ)
               for b in bind(profile, case["device"], root="gridedge", site="jianyuan1")]
    results = [r for r in results if r is not None]
    expected = case["expected"]
    if expected is None:
        assert results == []
        return
    assert len(results) == 1
    got = results[0]
    assert got.problems == []
    if "availability" in expected:
        assert got.availability is expected["availability"]
    if "ts" in expected:
        want = expected["ts"]
        want = datetime.fromisoformat(want).timestamp() if isinstance(want, str) else want
        assert got.ts == pytest.approx(want)
    assert got.post == _approx(expected.get("post", {}))
    assert got.ports == {int(k): _approx(v) for k, v in expected.get("ports", {}).items()}


def _approx(values: dict) -> dict:
    return {k: pytest.approx(v) if isinstance(v, float) else v for k, v in values.items()}


def test_bad_value_is_left_out_not_zero() -> None:
    """Test that a value a transform cannot read is reported and left out, never read as 0."""
    profile = REGISTRY.get("tasmota-energy")
    binding = next(b for b in bind(profile, "p", root="g", site="s") if "stat/" in b.topic_filter)
    got = decode(profile, binding, "stat/p/POWER1", b"MAYBE", TZ)
    assert got is not None
    assert got.ports == {1: {}}
    assert got.problems == ["on: 'MAYBE' is not one of ['OFF', 'ON']"]


def _write_profile(tmp_path: Path, name: str, text: str) -> Path:
    folder = tmp_path / "posts"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return tmp_path


GOOD_POST = """\
id: acme-post
kind: post
vendor: ACME
model: test post
messages:
  - topic: "acme/{device}/data"
    ports:
      mode: list
      path: ports
      fields:
        current_a: amps
commands:
  port_off: {topic: "acme/{device}/off", payload: "{port}"}
"""


@pytest.mark.parametrize(("edit", "line", "expected"), [
    (("current_a: amps", "current_a:\n          path: amps\n          transform: [scal]"), 13,
     "messages[0].ports.fields.current_a.transform[0]: unknown transform 'scal'; did you mean "
     "'scale'?"),
    (('payload: "{port}"', 'payload: "{prot}"'), 13,
     "commands.port_off: unknown placeholder '{prot}'; did you mean '{port}'?"),
    (("current_a: amps", "curent_a: amps"), 11,
     "messages[0].ports.fields.curent_a: 'curent_a' is not a canonical key; did you mean 'current_a'?"),
    (("  port_off:", "  port_of:"), 13, "commands.port_of: 'port_of' is not a post command; allowed: "
     "port_off, port_on"),
])
def test_profile_mistake_names_file_and_line(tmp_path: Path, edit: tuple[str, str], line: int,
                                             expected: str) -> None:
    """Test that a mistake in an installer's profile is reported with file, line and a hint."""
    set_language("en")
    _write_profile(tmp_path, "acme.yaml", GOOD_POST.replace(*edit))
    with pytest.raises(ConfigError) as caught:
        load_registry([tmp_path])
    messages = [str(p) for p in caught.value.problems]
    assert len(messages) == 1
    assert messages[0].startswith(f"{tmp_path / 'posts' / 'acme.yaml'}:{line}: {expected}")


def test_extends_inherits_and_cycles_are_refused(tmp_path: Path) -> None:
    """Test that a rebrand extends a profile, and profiles extending each other are refused."""
    set_language("en")
    _write_profile(tmp_path, "acme.yaml", GOOD_POST)
    _write_profile(tmp_path, "acme2.yaml", "id: acme-post-2\nextends: acme-post\nmodel: rebrand\n")
    registry = load_registry([tmp_path])
    child = registry.get("acme-post-2")
    assert child.model == "rebrand"
    assert child.commands == registry.get("acme-post").commands
    _write_profile(tmp_path, "acme.yaml", GOOD_POST.replace("id: acme-post\n",
                                                            "id: acme-post\nextends: acme-post-2\n"))
    with pytest.raises(ConfigError) as caught:
        load_registry([tmp_path])
    assert "extend each other in a circle" in str(caught.value)


@pytest.mark.parametrize("profile", list(REGISTRY), ids=lambda p: p.id)
def test_subscription_filters_are_valid_mqtt(profile) -> None:  # noqa: ANN001
    """Test that every topic a profile subscribes is a filter a broker accepts (whole-level +)."""
    for binding in bind(profile, "dev", root="gridedge", site="jianyuan1"):
        for level in binding.topic_filter.split("/"):
            assert level in ("+", "#") or ("+" not in level and "#" not in level), binding.topic_filter


def test_port_in_part_of_a_topic_level_is_matched() -> None:
    """Test that Tasmota's POWER<n> topics are subscribed with '+' and only POWER<n> is read."""
    profile = REGISTRY.get("tasmota-energy")
    binding = next(b for b in bind(profile, "p", root="g", site="s") if "stat/" in b.topic_filter)
    assert binding.topic_filter == "stat/p/+"
    assert decode(profile, binding, "stat/p/RESULT", b"{}", TZ) is None
    got = decode(profile, binding, "stat/p/POWER3", b"ON", TZ)
    assert got is not None
    assert got.ports == {3: {"on": True}}
