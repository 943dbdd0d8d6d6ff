"""Tests of the clip cache: same bytes for the same input, new clips on change, damage healed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from audio import AudioFormat, ClipRenderer, Composition, EspeakEngine, write_pins
from tests.audio.conftest import SHORT_TEXT, probe


def test_same_input_gives_same_file_and_bytes(renderer: ClipRenderer) -> None:
    """Test that rendering the same text twice returns the same cached file and bytes."""
    first = renderer.render(SHORT_TEXT)
    first_bytes = first.path.read_bytes()
    second = renderer.render(SHORT_TEXT)
    assert second == first
    assert second.path.read_bytes() == first_bytes


def test_equal_written_forms_share_a_clip(renderer: ClipRenderer) -> None:
    """Test that full-width and half-width spellings of one text share a clip (normalised key)."""
    assert renderer.render("请于12月31日前缴费") == renderer.render("请于１２月３１日前缴费")


def test_any_parameter_change_makes_a_new_clip(renderer: ClipRenderer, tmp_path: Path) -> None:
    """Test that text, voice, engine setting, composition and format each give a new clip."""
    base = renderer.render(SHORT_TEXT)
    slower = ClipRenderer(tmp_path / "cache", 64 << 20, [EspeakEngine(rate_wpm=120)])
    variants = [
        renderer.render(SHORT_TEXT + "谢谢。"),
        renderer.render(SHORT_TEXT, voice="cmn-latn-pinyin"),
        slower.render(SHORT_TEXT),
        renderer.render(SHORT_TEXT, composition=Composition(repeat=2)),
        renderer.render(SHORT_TEXT, composition=Composition(target_lufs=-20.0)),
        renderer.render(SHORT_TEXT, fmt=AudioFormat("mp3", 22_050, 1, 96)),
    ]
    paths = {base.path, *(v.path for v in variants)}
    assert len(paths) == 1 + len(variants)
    assert len({base.sha256, *(v.sha256 for v in variants)}) == 1 + len(variants)
    assert slower.render(SHORT_TEXT).duration_s > base.duration_s


def test_replaced_chime_file_makes_a_new_clip(renderer: ClipRenderer, tmp_path: Path) -> None:
    """Test that a chime file replaced under the same name is noticed by its content."""
    from tests.audio.conftest import make_sound  # noqa: PLC0415

    chime = make_sound(tmp_path / "chime.wav", "sine=frequency=660", 0.5)
    first = renderer.render(SHORT_TEXT, composition=Composition(chime=chime))
    make_sound(chime, "sine=frequency=880", 0.8)
    second = renderer.render(SHORT_TEXT, composition=Composition(chime=chime))
    assert second.sha256 != first.sha256
    assert second.duration_s > first.duration_s


@pytest.mark.parametrize("damage", ["truncate", "empty", "garbage", "delete_sidecar"])
def test_damaged_cached_file_is_rendered_again(renderer: ClipRenderer, damage: str) -> None:
    """Test that a truncated, emptied or overwritten cached clip is never served but re-rendered."""
    good = renderer.render(SHORT_TEXT)
    good_bytes = good.path.read_bytes()
    if damage == "truncate":
        good.path.write_bytes(good_bytes[: len(good_bytes) // 2])
    elif damage == "empty":
        good.path.write_bytes(b"")
    elif damage == "garbage":
        good.path.write_bytes(b"\x00" * len(good_bytes))
    else:
        good.path.with_suffix(".json").unlink()
    again = renderer.render(SHORT_TEXT)
    # espeak-ng carries state from call to call, so a re-render is equivalent, not identical.
    assert again.sha256 == hashlib.sha256(again.path.read_bytes()).hexdigest()
    assert again.path.stat().st_size == pytest.approx(len(good_bytes), rel=0.05)
    assert probe(again.path).duration_s == pytest.approx(good.duration_s, abs=0.1)
    assert renderer.render(SHORT_TEXT) == again


def test_corrupt_sidecar_is_rendered_again(renderer: ClipRenderer) -> None:
    """Test that a cache entry whose sidecar is not JSON is rebuilt, not trusted."""
    good = renderer.render(SHORT_TEXT)
    good.path.with_suffix(".json").write_text("{not json", encoding="utf-8")
    again = renderer.render(SHORT_TEXT)
    assert again.sha256 == hashlib.sha256(again.path.read_bytes()).hexdigest()
    assert json.loads(again.path.with_suffix(".json").read_text(encoding="utf-8"))["sha256"]


def test_cache_stays_within_its_size_bound(tmp_path: Path) -> None:
    """Test that old clips are evicted so the cache directory stays under its byte bound."""
    fmt = AudioFormat("wav", 16_000, 1, None)  # ~100 kB a clip
    bound = 300_000
    small = ClipRenderer(tmp_path / "cache", bound)
    texts = [f"第{n}号通知，请注意。" for n in range(1, 7)]
    clips = [small.render(t, fmt=fmt) for t in texts]
    total = sum(p.stat().st_size for p in (tmp_path / "cache").iterdir())
    assert total <= bound
    assert clips[-1].path.exists()
    assert not clips[0].path.exists()
    # An evicted clip is simply rendered again when asked for.
    again = small.render(texts[0], fmt=fmt)
    assert again.path.exists()
    assert again.duration_s == pytest.approx(clips[0].duration_s, abs=0.1)


def test_pinned_clips_are_never_evicted(tmp_path: Path) -> None:
    """Test that a clip named in the cache's pins survives eviction that takes newer ones."""
    fmt = AudioFormat("wav", 16_000, 1, None)  # ~100 kB a clip
    small = ClipRenderer(tmp_path / "cache", 300_000)
    scheduled = small.render("第1号通知，请注意。", fmt=fmt)
    write_pins(tmp_path / "cache", [scheduled.path.name])
    others = [small.render(f"第{n}号通知，请注意。", fmt=fmt) for n in range(2, 8)]
    assert scheduled.path.exists()  # the oldest file, but a schedule refers to it
    assert not others[0].path.exists()
    assert (tmp_path / "cache" / ".pinned").read_text(encoding="utf-8") == \
        f"{scheduled.path.name}\n"


def test_no_temp_files_are_left_behind(renderer: ClipRenderer) -> None:
    """Test that a finished render leaves only the clip and its sidecar in the cache."""
    clip = renderer.render(SHORT_TEXT)
    names = sorted(p.name for p in clip.path.parent.iterdir())
    assert names == sorted([clip.path.name, clip.path.with_suffix(".json").name])
