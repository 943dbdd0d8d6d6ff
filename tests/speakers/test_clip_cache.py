"""Clips the fleet refers to stay servable: used clips are touched in the cache, evicted ones made again."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
import urllib.request
from pathlib import Path

from tests.edge.mqtt_probe import Probe
from tests.speakers.rig import Daemon, load, request, until

DAY_S = 86400


def _fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - loopback
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, b""


def test_a_scheduled_clip_evicted_from_the_cache_is_made_again_not_404(
        speaker_config: Path, broker, site_id: str) -> None:
    """Test that a clip prepared ahead, then evicted by the cache, still downloads at its slot."""
    config, profiles = load(speaker_config)
    cmd = f"gridedge/{site_id}/speakers/east_gate/cmd"
    probe = Probe(broker, cmd)

    async def scenario() -> None:
        daemon = Daemon(config, profiles)
        await daemon.start()
        try:
            fleet = daemon.fleet
            slot = request("morning", ("east_gate",), text="早上好, 请注意安全", grace_s=60,
                           due=time.time() + 3600)
            await fleet.prepare(slot)                   # rendered ahead of its slot
            clip_files = [p for p in (config.data_dir / "clips").iterdir()
                          if p.suffix == ".mp3"]
            assert len(clip_files) == 1
            # Pinned while the schedule refers to it: the cache's eviction passes it by.
            pins = (config.data_dir / "clips" / ".pinned").read_text(encoding="utf-8")
            assert pins.split() == [clip_files[0].name]
            # The scheduler prepares again the next day: the clip is touched (LRU order).
            os.utime(clip_files[0], (time.time() - DAY_S, time.time() - DAY_S))
            await fleet.prepare(slot)
            assert time.time() - clip_files[0].stat().st_mtime < DAY_S / 2
            # Then the cache evicts it, as its LRU bound does: clip and sidecar removed.
            for path in list((config.data_dir / "clips").iterdir()):
                path.unlink()
            probe.publish(f"gridedge/{site_id}/speakers/east_gate/availability", "online",
                          retain=True)
            due = request("morning", ("east_gate",), text="早上好, 请注意安全", grace_s=60)
            await fleet.submit(due)
            await until(lambda: any(p.startswith("{") and json.loads(p).get("action") == "play"
                                    for _t, p, _r in probe.messages))
            play = next(json.loads(p) for _t, p, _r in probe.messages
                        if p.startswith("{") and json.loads(p).get("action") == "play")
            status, body = await asyncio.to_thread(_fetch, play["url"])
            assert status == 200
            assert hashlib.sha256(body).hexdigest() == play["sha256"]
        finally:
            await daemon.stop()
            probe.publish(f"gridedge/{site_id}/speakers/east_gate/availability", "",
                          retain=True)

    asyncio.run(scenario())
    probe.close()
