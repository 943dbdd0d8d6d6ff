"""Clip composition with pydub: chime, pre-roll, repeated speech with gaps, outro."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import Any

from audio import _ffmpeg
from audio.const import (
    CHIME_FADE_MS,
    CHIME_GAP_AFTER_MS,
    CHIME_LEVEL_DBFS,
    CHIME_TONE_MS,
    CHIME_TONES_HZ,
    SAMPLE_WIDTH_BYTES,
)
from audio.errors import ClipDecodeError
from audio.models import GENERATED_CHIME, Composition, Pcm

with warnings.catch_warnings():
    # pydub warns at import when no ffmpeg is on PATH, and about audioop on 3.12; we never let
    # pydub call ffmpeg (imageio-ffmpeg's binary is driven directly) so neither applies.
    warnings.simplefilter("ignore")
    from pydub import AudioSegment
    from pydub.generators import Sine

# pydub ships no type hints: segments are typed through this alias.
Segment = Any

# Added after the last sound so players that cut the final buffer lose only silence.
_TAIL_MS = 200


def segment_from_pcm(pcm: Pcm, channels: int) -> Segment:
    """Wrap engine PCM as a pydub segment with the working channel count."""
    segment = AudioSegment(
        data=pcm.data, sample_width=SAMPLE_WIDTH_BYTES, frame_rate=pcm.sample_rate,
        channels=pcm.channels,
    )
    return segment.set_channels(channels) if segment.channels != channels else segment


def file_segment(path: Path, sample_rate: int, channels: int) -> Segment:
    """Decode a sound file with ffmpeg (not pydub: the wheel's ffmpeg has no ffprobe)."""
    data = _ffmpeg.decode_file(path, sample_rate, channels)
    return AudioSegment(
        data=data, sample_width=SAMPLE_WIDTH_BYTES, frame_rate=sample_rate, channels=channels
    )


@functools.cache
def generated_chime(sample_rate: int, channels: int) -> Segment:
    """A two-tone ding-dong, faded in and out so it does not click (made once per format)."""
    chime = AudioSegment.empty()
    for freq in CHIME_TONES_HZ:
        tone = Sine(freq, sample_rate=sample_rate, bit_depth=8 * SAMPLE_WIDTH_BYTES)
        chime += (
            tone.to_audio_segment(duration=CHIME_TONE_MS, volume=CHIME_LEVEL_DBFS)
            .fade_in(CHIME_FADE_MS)
            .fade_out(CHIME_FADE_MS * 3)
        )
    return chime.set_channels(channels)


def compose(main: Segment, composition: Composition) -> Segment:
    """Put the clip together around `main` (speech or a recorded clip).

    Chime and outro files are level-matched to the main sound by RMS, so a loud jingle does not
    drown the speech once the whole clip is normalised.

    Raises:
        ClipDecodeError: a chime or outro file cannot be decoded or is silent.

    """
    rate, channels = main.frame_rate, main.channels

    def silence(ms: int) -> Segment:
        return AudioSegment.silent(duration=ms, frame_rate=rate).set_channels(channels)

    clip = silence(composition.pre_roll_ms)
    if composition.chime == GENERATED_CHIME:
        clip += generated_chime(rate, channels).apply_gain(main.dBFS - CHIME_LEVEL_DBFS - 3)
        clip += silence(CHIME_GAP_AFTER_MS)
    elif composition.chime is not None:
        clip += _matched(Path(composition.chime), main, "chime") + silence(CHIME_GAP_AFTER_MS)
    for i in range(composition.repeat):
        if i:
            clip += silence(composition.gap_ms)
        clip += main
    if composition.outro is not None:
        clip += silence(CHIME_GAP_AFTER_MS) + _matched(Path(composition.outro), main, "outro")
    return clip + silence(_TAIL_MS)


def _matched(path: Path, main: Segment, role: str) -> Segment:
    sound = file_segment(path, main.frame_rate, main.channels)
    if sound.rms == 0:
        msg = f"{role} file {path} holds only silence"
        raise ClipDecodeError(msg)
    return sound.apply_gain(main.dBFS - sound.dBFS)
