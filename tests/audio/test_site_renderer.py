"""The daemon's clips follow config.yaml's audio: section (voice, chime, loudness), end to end."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

from tests.audio.conftest import probe
from tests.broker.harness import Broker
from tests.speakers.rig import Daemon, final, load, request, simulator, speakers_section, until

SITE_AUDIO = {"engine": "espeak", "voice": "yue", "chime": True, "target_lufs": -20,
              "pronunciations": {}}


def test_a_scheduled_play_carries_the_configured_voice_and_chime(
        broker: Broker, site_id: str, write_config: Callable[..., Path]) -> None:
    """Test that the fleet renders with the site's engine, voice, chime and loudness."""
    path = write_config(broker, speakers=speakers_section(site_id), audio=SITE_AUDIO)
    config, profiles = load(path)
    slot = request("消防安全提示@0800", ("east_gate",), text="请注意防火")

    async def scenario() -> None:
        sim, daemon = simulator(config, profiles), Daemon(config, profiles)
        await sim.start()
        await daemon.start()
        try:
            await daemon.fleet.submit(slot)
            await until(final(daemon, slot.key, slot.speakers))
        finally:
            await daemon.stop()
            await sim.stop()
        assert daemon.outcomes(slot.key) == {"east_gate": "played"}

    asyncio.run(scenario())
    [sidecar] = list((config.data_dir / "clips").glob("*.json"))
    params = json.loads(sidecar.read_text(encoding="utf-8"))["params"]
    assert params["engine"].startswith("espeak-ng")
    assert "voice yue" in params["engine"]
    assert params["composition"]["chime"] == "generated"
    clip = next(p for p in sidecar.parent.iterdir()
                if p.suffix != ".json" and not p.name.startswith("."))  # not the pin file
    assert abs(probe(clip).integrated_lufs - (-20.0)) <= 1.0
