"""An emergency `say` plays in parts: first words first, the rest in order, logged as one play."""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
from pathlib import Path

import pytest

from audio import normalize_text
from edge.speakers.parts import SpokenPart, spoken_parts
from tests.conftest import gridedge_command
from tests.speakers.rig import Daemon, final, load, simulator, until

HANG_GUARD_S = 90
EMERGENCY = "紧急通知：三号楼车棚发生火情，请附近居民立即撤离现场，不要乘坐电梯，注意安全。"


def test_long_emergency_is_cut_at_punctuation_first_clause_first() -> None:
    """Test that the text is cut at its punctuation, the first part short, nothing lost."""
    parts = spoken_parts(EMERGENCY)
    assert [p.text for p in parts] == ["紧急通知：", "三号楼车棚发生火情，", "请附近居民立即撤离现场，",
                                       "不要乘坐电梯，注意安全。"]
    assert [p.index for p in parts] == [0, 1, 2, 3]
    assert "".join(p.text for p in parts) == EMERGENCY


def test_short_or_unpunctuated_text_stays_whole() -> None:
    """Test that a short text, or one without punctuation to cut at, is one part."""
    assert spoken_parts("紧急通知，请立即撤离") == [SpokenPart("紧急通知，请立即撤离")]
    unbroken = "三号楼起火了请大家马上离开不要坐电梯谢谢合作"
    assert spoken_parts(unbroken, repeat=2) == [SpokenPart(unbroken, repeat=2)]


def test_repeats_follow_the_parts_as_one_last_part() -> None:
    """Test that a text said twice ends with the whole text once more, after the gap."""
    parts = spoken_parts(EMERGENCY, repeat=2, gap_ms=1000)
    assert parts[-1] == SpokenPart(EMERGENCY, index=4, repeat=1, lead_ms=1000)


def _clip_texts(cache: Path) -> dict[str, tuple[str, object]]:
    """sha256 of each clip in the cache -> (the text it speaks, its chime)."""
    out = {}
    for sidecar in cache.glob("*.json"):
        meta = json.loads(sidecar.read_text("utf-8"))
        out[meta["sha256"]] = (meta["params"]["text"], meta["params"]["composition"]["chime"])
    return out


def _rows(daemon: Daemon, key: str) -> list[sqlite3.Row]:
    with sqlite3.connect(daemon.app.store.path) as db:
        db.row_factory = sqlite3.Row
        return db.execute("SELECT * FROM plays WHERE key = ?", (key,)).fetchall()


@pytest.mark.parametrize("speaker", ["east_gate", "west_gate"])
def test_emergency_say_reaches_the_speaker_in_parts_in_order(speaker_config: Path,
                                                             speaker: str) -> None:
    """Test that `say --priority emergency` of a long text plays its parts in order, first part
    first (chime only there), one after the other, and that the play log holds one played row.

    east_gate reports the end of each part (gridedge protocol); west_gate (Tasmota) does not,
    so there the next part goes when the part's duration has passed.
    """
    config, profiles = load(speaker_config)
    name = config.speakers.devices[speaker].name

    async def scenario() -> tuple[int, str]:
        sim, daemon = simulator(config, profiles), Daemon(config, profiles)
        await sim.start()
        await daemon.start()
        try:
            await until(lambda: daemon.fleet.channels[speaker].online)
            process = await asyncio.create_subprocess_exec(
                *gridedge_command(), "say", EMERGENCY, "--speakers", name, "--priority",
                "emergency", "-c", str(speaker_config), stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT)
            out, _ = await asyncio.wait_for(process.communicate(), HANG_GUARD_S)
            accepted = next(e for e in daemon.events if e.kind == "announce.accepted")
            key = accepted.detail["key"]
            await until(final(daemon, key, (speaker,)), HANG_GUARD_S)
        finally:
            await daemon.stop()
            await sim.stop()
        plays = sim.speakers[speaker].plays
        texts = _clip_texts(config.data_dir / "clips")
        heard = [texts[p.what.rsplit("/", 1)[-1].split(".")[0]] for p in plays]
        parts = spoken_parts(EMERGENCY)
        assert heard == [(normalize_text(p.text), "generated" if p.index == 0 else None)
                         for p in parts]
        # Each part went out only once the one before had had its whole duration.
        for before, after in itertools.pairwise(plays):
            assert after.received >= before.received + (before.duration_s or 0.0)
        if speaker == "east_gate":  # and was reported done before the next one went
            assert [p.outcome for p in plays] == ["done"] * len(parts)
        rows = _rows(daemon, key)
        assert [(r["speaker"], r["state"]) for r in rows] == [(speaker, "played")]
        done = [e for e in daemon.events if e.kind == "play.done" and e.detail["key"] == key]
        assert len(done) == 1
        return process.returncode or 0, out.decode()

    code, out = asyncio.run(scenario())
    assert code == 0, out
    assert out.count(f"{name}：已播放") == 1, out
