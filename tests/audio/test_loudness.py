"""In-process loudness, true peak and limiter, held against ffmpeg's own EBU R128 meter."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from audio import AudioFormat, ClipRenderer, Composition, EspeakEngine, normalize_text
from audio import _loudness as loudness
from tests.audio.conftest import FFMPEG, POLICY_60, probe

RATE = 22_050


def _ffmpeg_meter(pcm: bytes, rate: int, folder: Path) -> tuple[float, float]:
    """(integrated LUFS, true peak dBTP) of 16-bit mono PCM, as ffmpeg's ebur128 says."""
    path = folder / "measured.wav"
    subprocess.run(
        [FFMPEG, "-hide_banner", "-v", "error", "-f", "s16le", "-ar", str(rate), "-ac", "1",
         "-i", "pipe:0", "-y", str(path)], input=pcm, check=True)
    got = probe(path)
    return got.integrated_lufs, got.true_peak_db


@pytest.fixture(scope="module")
def speech() -> bytes:
    """espeak-ng's 16-bit PCM of a policy text."""
    engine = EspeakEngine()
    return engine.synthesize(normalize_text(POLICY_60), engine.default_voice).data


@pytest.mark.parametrize("gain_db", [-10.0, 0.0, 6.0])
def test_loudness_and_true_peak_agree_with_ffmpeg(speech: bytes, gain_db: float,
                                                 tmp_path: Path) -> None:
    """Test that integrated loudness and true peak of speech match ffmpeg's ebur128 meter."""
    samples = np.clip(loudness.to_float(speech, 1) * 10 ** (gain_db / 20), -1.0, 0.99)
    pcm = loudness.to_pcm16(samples)
    theirs_lufs, theirs_peak = _ffmpeg_meter(pcm, RATE, tmp_path)
    ours = loudness.to_float(pcm, 1)
    assert loudness.integrated_lufs(ours, RATE) == pytest.approx(theirs_lufs, abs=0.1)
    assert loudness.true_peak_db(ours) == pytest.approx(theirs_peak, abs=0.3)


def test_sine_reads_as_ffmpeg_reads_it(tmp_path: Path) -> None:
    """Test that a 1 kHz sine measures as ffmpeg measures it, and silence as -inf."""
    t = np.arange(RATE * 3) / RATE
    sine = (0.1 * np.sin(2 * np.pi * 1000 * t))[:, None]
    theirs, _peak = _ffmpeg_meter(loudness.to_pcm16(sine), RATE, tmp_path)
    assert loudness.integrated_lufs(sine, RATE) == pytest.approx(theirs, abs=0.1)
    assert loudness.integrated_lufs(np.zeros((RATE * 3, 1)), RATE) == float("-inf")


def test_limiter_holds_every_sample_under_its_ceiling(speech: bytes) -> None:
    """Test that the limiter's gain keeps each sample of loud speech at or under the ceiling."""
    loud = loudness.to_float(speech, 1) * 10 ** (12 / 20)  # peaks far over full scale
    curve = loudness.limit_curve(loud, RATE, -2.0)
    assert curve is not None
    limited = loud * curve[:, None]
    assert 20 * np.log10(np.abs(limited).max()) <= -2.0 + 1e-4  # float32 rounding
    assert loudness.limit_curve(loud * 0.01, RATE, -2.0) is None  # nothing to do: untouched


def test_a_render_starts_one_ffmpeg_process(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Test that a cold render runs ffmpeg once (the encode), and still lands on target."""
    started: list[list[str]] = []
    real_popen = subprocess.Popen

    def counting_popen(args: list[str], *rest: object, **kwargs: object) -> subprocess.Popen:
        if args and args[0] == FFMPEG:
            started.append(list(args))
        return real_popen(args, *rest, **kwargs)  # type: ignore[call-overload]

    renderer = ClipRenderer(tmp_path / "cache", 1 << 26)
    renderer.render("预热")  # loads espeak-ng
    started.clear()
    monkeypatch.setattr(subprocess, "Popen", counting_popen)
    clip = renderer.render(POLICY_60, fmt=AudioFormat("mp3", 16_000, 1, 48),
                           composition=Composition(chime="generated"))
    monkeypatch.undo()
    assert len(started) == 1, started
    got = probe(clip.path)
    assert got.integrated_lufs == pytest.approx(-16.0, abs=0.5)
    assert got.true_peak_db <= -1.0
