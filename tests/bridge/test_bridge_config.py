"""The bridge: section and the serial register maps: staff-readable problems with file:line."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from edge.bridge import load_bridge, load_register_maps
from edge.config import ConfigError, load_config
from edge.config.bridge import BridgeProtocol, Parity
from edge.i18n import set_language
from tests.conftest import REPO, gridedge_command

SITE = (REPO / "config.yaml").read_text(encoding="utf-8")
FIRST = len(SITE.splitlines()) + 1  # line of "bridge:" once appended


def _site(tmp_path: Path, text: str) -> Path:
    """Write a config beside a copy of the files it names (schedules)."""
    if (REPO / "schedules").is_dir() and not (tmp_path / "schedules").exists():
        shutil.copytree(REPO / "schedules", tmp_path / "schedules")
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _problems(tmp_path: Path, bridge: str) -> list[str]:
    set_language("en")
    path = _site(tmp_path, SITE + bridge)
    with pytest.raises(ConfigError) as err:
        load_bridge(path)
    return [str(p).replace(str(path), "config.yaml") for p in err.value.problems]


def test_valid_bridge_section_is_typed(tmp_path: Path) -> None:
    """Test that a bridge: section with a post named in Chinese loads into typed settings."""
    path = _site(tmp_path, SITE + """
bridge:
  buses:
    rs485:
      port: rfc2217://10.0.0.5:4001
      parity: even
      devices:
        p01: {post: 1号充电桩, profile: ebike-post-10, slave: 1, poll_interval_s: 1.5}
        meter: {post: P02, profile: pzem-004t-v3, slave: 2, port: 7}
""")
    config, maps = load_bridge(path)
    assert config.bridge is not None
    bus = config.bridge.buses["rs485"]
    assert bus.parity is Parity.EVEN and bus.parity.letter == "E"
    assert bus.protocol is BridgeProtocol.MODBUS
    assert bus.devices["p01"].post == "P01"
    assert bus.devices["p01"].poll_interval_s == 1.5
    assert config.bridge.offline_after_polls == 3
    assert sorted(maps) == ["ebike-post-10", "pzem-004t-v3"]


def test_site_without_bridge_section_still_loads() -> None:
    """Test that config.yaml as shipped (bridge: commented out) has no bridge."""
    assert load_config(REPO / "config.yaml").bridge is None


def test_unknown_map_and_post_get_did_you_mean(tmp_path: Path) -> None:
    """Test that a misspelt register map and post name are shown with line and a suggestion."""
    assert _problems(tmp_path, """
bridge:
  buses:
    rs485:
      port: /dev/ttyUSB0
      devices:
        p01: {post: P01, profile: ebike-post10, slave: 1}
        p02: {post: P20, profile: pzem-004t-v3, slave: 2}
""") == [
        f"config.yaml:{FIRST + 6}: bridge.buses.rs485.devices.p01.profile: there is no serial "
        "register map 'ebike-post10'; did you mean 'ebike-post-10'? (got ebike-post10)",
        f"config.yaml:{FIRST + 7}: bridge.buses.rs485.devices.p02.post: there is no charging post "
        "'P20'; did you mean 'P02'? (got P20)",
    ]


def test_line_settings_are_checked(tmp_path: Path) -> None:
    """Test that a wrong URL scheme, stop bits and parity are each reported at their line."""
    assert _problems(tmp_path, """
bridge:
  buses:
    rs485:
      port: htp://10.0.0.5:4001
      parity: N
      stopbits: 3
      devices:
        p01: {post: P01, profile: ebike-post-10, slave: 1}
""") == [
        f"config.yaml:{FIRST + 4}: bridge.buses.rs485.port: 'htp://' is not a serial URL; use a "
        "device path such as /dev/ttyUSB0 or one of rfc2217://, socket:// (got htp://10.0.0.5:4001)",
        f"config.yaml:{FIRST + 5}: bridge.buses.rs485.parity: must be one of: none, even, odd "
        "(got N)",
        f"config.yaml:{FIRST + 6}: bridge.buses.rs485.stopbits: must be one of: 1, 2 (got 3)",
    ]


def test_device_rules_point_at_the_device(tmp_path: Path) -> None:
    """Test that a missing slave, a shared slave address and a map on a DIY board are reported."""
    assert _problems(tmp_path, """
bridge:
  buses:
    a:
      port: /dev/ttyUSB0
      devices:
        p01: {post: P01, profile: ebike-post-10}
    b:
      port: /dev/ttyUSB1
      devices:
        p01: {post: P01, profile: ebike-post-10, slave: 4}
        p02: {post: P02, profile: ebike-post-10, slave: 4}
    diy:
      port: /dev/ttyACM0
      protocol: jsonlines
      devices:
        board: {post: P03, profile: ebike-post-10}
""") == [
        f"config.yaml:{FIRST + 6}: bridge.buses.a.devices.p01: this setting is required; "
        "add 'slave:'",
        f"config.yaml:{FIRST + 11}: bridge.buses.b.devices.p02.slave: slave address 4 is also "
        "used by 'p01' on this line; each device needs its own",
        f"config.yaml:{FIRST + 16}: bridge.buses.diy.devices.board.profile: 'profile' is only "
        "for Modbus devices; remove it",
    ]


def test_rules_across_config_and_maps(tmp_path: Path) -> None:
    """Test that a meter port on a post board, a port the post lacks, and a post with a vendor
    profile are reported where they are written."""
    site = SITE.replace("P04: {name: 4号充电桩,", "P04: {profile: tasmota-energy, name: 4号充电桩,")
    set_language("en")
    path = _site(tmp_path, site + """
bridge:
  buses:
    rs485:
      port: /dev/ttyUSB0
      devices:
        p01: {post: P01, profile: ebike-post-10, slave: 1, port: 3}
        meter: {post: P02, profile: pzem-004t-v3, slave: 2, port: 12}
        p04: {post: P04, profile: ebike-post-10, slave: 3}
""")
    with pytest.raises(ConfigError) as err:
        load_bridge(path)
    assert [str(p).replace(str(path), "config.yaml") for p in err.value.problems] == [
        f"config.yaml:{FIRST + 6}: bridge.buses.rs485.devices.p01.port: 'port' is only for a "
        "single-circuit meter; map 'ebike-post-10' has 10 ports of its own (got 3)",
        f"config.yaml:{FIRST + 7}: bridge.buses.rs485.devices.meter.port: post 'P02' has only 10 "
        "ports (got 12)",
        f"config.yaml:{FIRST + 8}: bridge.buses.rs485.devices.p04.post: post 'P04' has profile "
        "'tasmota-energy' in posts:, but the bridge publishes the canonical format; give it "
        "'profile: gridedge-post'",
    ]


def test_broken_register_map_is_shown_with_its_file_and_line(tmp_path: Path) -> None:
    """Test that a register map with a wrong type and a wrong id names the map file and line."""
    set_language("en")
    text = (REPO / "device_profiles/serial/pzem-004t-v3.yaml").read_text(encoding="utf-8")
    lines = text.splitlines()
    target = next(i for i, line in enumerate(lines) if line.strip() == "type: u16")
    lines[target] = lines[target].replace("u16", "u61")
    (tmp_path / "pzem-004t-v3.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "sdm.yaml").write_text(
        (REPO / "device_profiles/serial/eastron-sdm120.yaml").read_text(encoding="utf-8"),
        encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_register_maps(["pzem-004t-v3", "sdm"], tmp_path)
    shown = [str(p).replace(str(tmp_path) + "/", "") for p in err.value.problems]
    sdm_id = next(i for i, line in enumerate(
        (tmp_path / "sdm.yaml").read_text(encoding="utf-8").splitlines(), 1)
        if line.startswith("id:"))
    assert shown == [
        f"pzem-004t-v3.yaml:{target + 1}: points[0].type: must be one of: u16, s16, u32, "
        "s32, f32 (got u61)",
        f"sdm.yaml:{sdm_id}: id: the id must be the file name without .yaml: 'sdm' "
        "(got eastron-sdm120)",
    ]


def test_bridge_command_without_bridge_section_exits_2(tmp_path: Path) -> None:
    """Test that `gridedge bridge` on a config without bridge: says so and exits 2."""
    path = _site(tmp_path, SITE)
    result = subprocess.run([*gridedge_command(), "--lang", "en", "bridge", "-c", str(path)],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2
    assert "bridge: there is no 'bridge:' section; add one that lists the serial lines and " \
           "devices (see the example in config.yaml)" in result.stderr


def test_commented_example_in_config_yaml_is_valid(tmp_path: Path) -> None:
    """Test that the installer's example bridge: in config.yaml loads once uncommented."""
    head, _sep, tail = SITE.partition("# bridge:\n")
    body = "\n".join(line.removeprefix("# ") for line in tail.splitlines())
    path = _site(tmp_path, f"{head}bridge:\n{body}\n")
    config, maps = load_bridge(path)
    assert config.bridge is not None
    assert list(config.bridge.buses) == ["rs485", "diy_board"]
    assert sorted(maps) == ["ebike-post-10", "pzem-004t-v3"]
