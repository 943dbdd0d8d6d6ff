"""Fixtures of the speaker tests: a config with four speakers of three profiles."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.broker.harness import Broker
from tests.speakers.rig import speakers_section


@pytest.fixture
def speaker_config(broker: Broker, site_id: str, write_config: Callable[..., Path]) -> Path:
    """config.yaml of this test: the real site with speakers of gridedge, Tasmota and OpenLuat."""
    return write_config(broker, speakers=speakers_section(site_id))
