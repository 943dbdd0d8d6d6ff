"""Tests of rendered clips, asserted by decoding and measuring them with ffmpeg."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from audio import (
    AudioFormat,
    AudioFormatError,
    ClipDecodeError,
    ClipRenderer,
    Composition,
    EngineUnavailableError,
)
from tests.audio.conftest import POLICY_60, SHORT_TEXT, make_sound, probe

# ebur128 reports -70 LUFS / -91 dB RMS for digital silence; speech is far above that.
NOISE_FLOOR_RMS_DB = -60.0
LOUDNESS_TOLERANCE_LU = 1.0


def test_mp3_clip_decodes_is_speech_and_on_target(shared_renderer: ClipRenderer) -> None:
    """Test that a Mandarin MP3 decodes, is not silent, and measures -16 LUFS / <= -1 dBTP."""
    clip = shared_renderer.render(POLICY_60)
    got = probe(clip.path)
    assert got.codec == "mp3"
    assert (got.sample_rate, got.channels, got.bitrate_kbps) == (22_050, 1, 64)
    assert got.rms_db > NOISE_FLOOR_RMS_DB + 30
    assert abs(got.integrated_lufs - (-16.0)) <= LOUDNESS_TOLERANCE_LU
    assert got.true_peak_db <= -1.0
    assert clip.duration_s == pytest.approx(got.duration_s, abs=0.05)


def test_duration_grows_with_text_and_is_sane(shared_renderer: ClipRenderer) -> None:
    """Test that longer text gives a longer clip, within a plausible speaking rate."""
    plain = Composition(pre_roll_ms=0)
    short = shared_renderer.render(SHORT_TEXT, composition=plain)
    long = shared_renderer.render(SHORT_TEXT * 3, composition=plain)
    assert long.duration_s > 2.5 * short.duration_s
    chars = len(SHORT_TEXT)
    # Mandarin is spoken at roughly 3-6 syllables a second; allow a wide band either side.
    assert 0.1 * chars <= short.duration_s <= 0.6 * chars


@pytest.mark.parametrize(
    "fmt",
    [
        AudioFormat("mp3", 16_000, 1, 48),  # tasmota-i2s
        AudioFormat("mp3", 44_100, 2, 128),
        AudioFormat("wav", 16_000, 1, None),
        AudioFormat("wav", 48_000, 2, None),
    ],
    ids=["mp3-16k-mono-48k", "mp3-44k-stereo-128k", "wav-16k-mono", "wav-48k-stereo"],
)
def test_clip_has_the_profile_format(shared_renderer: ClipRenderer, fmt: AudioFormat) -> None:
    """Test that sample rate, channels and bitrate of the file are what the speaker asks for."""
    clip = shared_renderer.render(SHORT_TEXT, fmt=fmt)
    got = probe(clip.path)
    assert clip.path.suffix == f".{fmt.codec}"
    assert got.codec == ("mp3" if fmt.codec == "mp3" else "pcm_s16le")
    assert (got.sample_rate, got.channels) == (fmt.sample_rate, fmt.channels)
    if fmt.codec == "mp3":
        assert got.bitrate_kbps == fmt.bitrate_kbps
    assert abs(got.integrated_lufs - (-16.0)) <= LOUDNESS_TOLERANCE_LU
    assert got.true_peak_db <= -1.0


def test_other_loudness_target_is_met(shared_renderer: ClipRenderer) -> None:
    """Test that a quieter target (-23 LUFS, -3 dBTP) is met as measured."""
    clip = shared_renderer.render(
        SHORT_TEXT, composition=Composition(target_lufs=-23.0, true_peak_db=-3.0)
    )
    got = probe(clip.path)
    assert abs(got.integrated_lufs - (-23.0)) <= LOUDNESS_TOLERANCE_LU
    assert got.true_peak_db <= -3.0


def test_repeat_adds_speech_and_gap(shared_renderer: ClipRenderer) -> None:
    """Test that repeat=2 with a 1.5 s gap lengthens the clip by one speech plus the gap."""
    once = shared_renderer.render(SHORT_TEXT, composition=Composition(repeat=1))
    twice = shared_renderer.render(SHORT_TEXT, composition=Composition(repeat=2, gap_ms=1500))
    speech = shared_renderer.render(SHORT_TEXT, composition=Composition(pre_roll_ms=0))
    # `speech` has no pre-roll but the same tail, so once - speech = pre-roll.
    assert once.duration_s - speech.duration_s == pytest.approx(0.3, abs=0.06)
    assert twice.duration_s - once.duration_s == pytest.approx(
        speech.duration_s - 0.2 + 1.5, abs=0.1  # minus the 0.2 s tail counted once
    )


def test_chime_and_outro_files_are_played(shared_renderer: ClipRenderer, tmp_path: Path) -> None:
    """Test that a generated chime, and chime/outro files, each make the clip longer."""
    bare = shared_renderer.render(SHORT_TEXT)
    chimed = shared_renderer.render(SHORT_TEXT, composition=Composition(chime="generated"))
    jingle = make_sound(tmp_path / "jingle.mp3", "sine=frequency=523", 1.0)
    outro = make_sound(tmp_path / "outro.wav", "sine=frequency=392", 2.0)
    framed = shared_renderer.render(
        SHORT_TEXT, composition=Composition(chime=jingle, outro=outro)
    )
    assert 0.7 < chimed.duration_s - bare.duration_s < 1.5
    assert framed.duration_s - bare.duration_s == pytest.approx(1.0 + 2.0 + 0.5, abs=0.15)
    assert probe(framed.path).true_peak_db <= -1.0


def test_recorded_wav_and_mp3_become_speaker_clips(renderer: ClipRenderer, tmp_path: Path) -> None:
    """Test that staff recordings (WAV and MP3, decoded without ffprobe) come out on target."""
    wav = make_sound(tmp_path / "rec.wav", "sine=frequency=300", 3.0, ("-ar", "44100"))
    mp3 = make_sound(tmp_path / "rec.mp3", "sine=frequency=500", 2.0, ("-b:a", "96k"))
    fmt = AudioFormat("mp3", 16_000, 1, 48)
    for source, seconds in ((wav, 3.0), (mp3, 2.0)):
        clip = renderer.render_recorded(source, Composition(pre_roll_ms=0), fmt)
        got = probe(clip.path)
        assert (got.sample_rate, got.channels, got.bitrate_kbps) == (16_000, 1, 48)
        assert got.duration_s == pytest.approx(seconds + 0.2, abs=0.1)
        assert abs(got.integrated_lufs - (-16.0)) <= LOUDNESS_TOLERANCE_LU


def test_bad_recordings_are_refused(renderer: ClipRenderer, tmp_path: Path) -> None:
    """Test that a missing, undecodable or silent recording raises ClipDecodeError."""
    garbage = tmp_path / "garbage.mp3"
    garbage.write_bytes(b"this is not audio" * 100)
    silent = make_sound(tmp_path / "silent.wav", "anullsrc=r=16000:cl=mono", 2.0)
    with pytest.raises(ClipDecodeError, match="missing.mp3"):
        renderer.render_recorded(tmp_path / "missing.mp3")
    with pytest.raises(ClipDecodeError, match="garbage.mp3"):
        renderer.render_recorded(garbage)
    with pytest.raises(ClipDecodeError, match="silent"):
        renderer.render_recorded(silent)
    assert not list((tmp_path / "cache").glob("*.mp3"))


def test_impossible_formats_are_refused() -> None:
    """Test that formats libmp3lame cannot make are refused with the allowed values."""
    with pytest.raises(AudioFormatError, match="must be one of 8000"):
        AudioFormat("mp3", 17_000, 1, 64)
    with pytest.raises(AudioFormatError, match="at most 160"):
        AudioFormat("mp3", 16_000, 1, 256)
    with pytest.raises(AudioFormatError, match="codec must be one of mp3, wav"):
        AudioFormat("ogg", 16_000, 1, None)
    with pytest.raises(AudioFormatError, match="repeat must be 1..10"):
        Composition(repeat=0)


def test_non_chinese_voice_is_refused_for_chinese_text(renderer: ClipRenderer) -> None:
    """Test that Chinese text with an English-only voice is an error, not gibberish."""
    with pytest.raises(EngineUnavailableError, match="not Chinese"):
        renderer.render(SHORT_TEXT, voice="en-us")
    with pytest.raises(EngineUnavailableError, match="no voice 'klingon'"):
        renderer.render(SHORT_TEXT, voice="klingon")


def test_parallel_renders_are_all_valid(renderer: ClipRenderer) -> None:
    """Test that renders from several threads at once (one espeak engine) all come out right."""
    texts = [SHORT_TEXT, "今晚八点停水，请提前储水。", SHORT_TEXT, "充电棚今日开放。"]
    results: dict[int, object] = {}

    def work(i: int) -> None:
        try:
            results[i] = renderer.render(texts[i], fmt=AudioFormat("wav", 16_000, 1, None))
        except Exception as err:  # noqa: BLE001 - reported by the assertion below
            results[i] = err

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    clips = [results[i] for i in range(len(texts))]
    assert all(not isinstance(c, Exception) for c in clips), clips
    assert clips[0].sha256 == clips[2].sha256  # type: ignore[union-attr]
    assert len({c.sha256 for c in clips}) == 3  # type: ignore[union-attr]
    for clip in clips:
        assert probe(clip.path).rms_db > NOISE_FLOOR_RMS_DB  # type: ignore[union-attr]
