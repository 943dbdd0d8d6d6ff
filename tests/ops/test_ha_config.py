"""The ``homeassistant:`` section of config.yaml: defaults and the message staff see for a bad prefix."""

from __future__ import annotations

import pytest
import yaml

from edge.config import ConfigError, load_config
from edge.profiles import load_registry


def test_discovery_is_off_by_default_and_a_bad_prefix_names_its_line(broker, write_config) -> None:
    """Test that discovery is off unless enabled, and a wildcard prefix is refused with file:line."""
    profiles = load_registry()
    config = load_config(write_config(broker), profiles=profiles)
    assert (config.homeassistant.enabled, config.homeassistant.discovery_prefix) == (
        False, "homeassistant")
    path = write_config(broker, homeassistant={"enabled": True, "discovery_prefix": "home/#"})
    line = next(n for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                if "discovery_prefix" in text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, profiles=profiles)
    assert [str(p).split(": ", 1)[0].rsplit(":", 1)[1] for p in caught.value.problems] == [
        str(line)]
    assert [str(p).split(": ", 1)[1] for p in caught.value.problems] == [
        ("homeassistant.discovery_prefix: 请写 MQTT 主题层级, 例如 homeassistant; "
         "不能含 '+'、'#'、空格, 首尾不能是斜杠（实际写的是 home/#）")]
    assert yaml.safe_load(path.read_text(encoding="utf-8"))["homeassistant"]["enabled"] is True
