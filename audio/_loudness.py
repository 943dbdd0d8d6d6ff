"""Loudness (ITU-R BS.1770-4 / EBU R128), true peak and a look-ahead peak limiter, in numpy.

The clip is already in memory as PCM; measuring and limiting it here costs a few milliseconds,
where every ffmpeg pass (a process start, a pipe of the whole clip, ebur128's 4x true-peak
oversampling) cost tens. ffmpeg is left with the one step it is needed for: resample and encode.

numpy is imported by the callers of this module only (the renderer, when it renders), so a daemon
that never renders does not pay its memory.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

__all__ = ["LoudnessMeter", "integrated_lufs", "limit_curve", "to_float", "to_pcm16",
           "true_peak_db"]

Array = Any  # numpy arrays (numpy's own hints would tie us to one numpy version)

_BLOCK_S = 0.4           # gating block (BS.1770)
_HOP_S = 0.1             # 75 % overlap
_ABSOLUTE_GATE = -70.0   # LUFS
_RELATIVE_GATE = -10.0   # LU below the absolute-gated loudness
_FILTER_TAIL_S = 0.5     # zero padding: the K-filter's response has died out long before this
_CHUNK_FRAMES = 1 << 16  # K-filtering in pieces of about this many frames
_OVERSAMPLE = 4          # true peak as BS.1770 annex 2: 4x oversampling
_TP_TAPS_PER_PHASE = 12
_TP_NEIGHBOUR_RATIO = 10 ** (-6 / 20)  # samples this far under the peak cannot top it between
_LIMIT_BLOCK_S = 0.0025  # the limiter's gain moves at most once per block (look-ahead: one block)
_ATTACK_DB_PER_S = 600.0  # how fast the gain may fall ahead of a peak (a smooth duck, no click)
_RELEASE_DB_PER_S = 120.0  # how fast it recovers after the peak
_FULL_SCALE = 32768.0


def to_float(pcm: bytes, channels: int) -> Array:
    """16-bit little-endian interleaved PCM as float32 frames x channels, full scale 1.0."""
    # float32: plenty for loudness and peaks, and half the memory to touch.
    data = np.frombuffer(pcm, dtype="<i2").astype(np.float32) * np.float32(1 / _FULL_SCALE)
    return data[: len(data) - len(data) % channels].reshape(-1, channels)


def to_pcm16(samples: Array) -> bytes:
    """Float frames back to 16-bit little-endian interleaved PCM (rounded, clipped)."""
    scaled = np.clip(np.rint(samples * _FULL_SCALE), -_FULL_SCALE, _FULL_SCALE - 1)
    return scaled.astype("<i2").tobytes()


def _biquad_response(b: tuple[float, float, float], a: tuple[float, float, float],
                     z1: Array) -> Array:
    z2 = z1 * z1
    return (b[0] + b[1] * z1 + b[2] * z2) / (a[0] + a[1] * z1 + a[2] * z2)


def _k_weighting(sample_rate: int, z1: Array) -> Array:
    """Frequency response of BS.1770's K-filter (shelf, then high-pass) at any sample rate.

    The coefficients are the standard's analogue prototypes bilinear-transformed for this rate
    (as libebur128 does), so 22.05 and 24 kHz clips are weighted as 48 kHz ones are.
    """
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / sample_rate)
    vh = 10 ** (gain_db / 20)
    vb = vh ** 0.4996667741545416
    a0 = 1 + k / q + k * k
    shelf_b = ((vh + vb * k / q + k * k) / a0, 2 * (k * k - vh) / a0,
               (vh - vb * k / q + k * k) / a0)
    shelf_a = (1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0)
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / sample_rate)
    a0 = 1 + k / q + k * k
    high_b = (1.0, -2.0, 1.0)
    high_a = (1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0)
    return _biquad_response(shelf_b, shelf_a, z1) * _biquad_response(high_b, high_a, z1)


def _fast_length(minimum: int) -> int:
    """The smallest length >= minimum with only 2, 3 and 5 as factors (a fast FFT size)."""
    best = 1 << math.ceil(math.log2(minimum))
    fives = 1
    while fives < best:
        threes = fives
        while threes < best:
            length = threes << max(0, math.ceil(math.log2(minimum / threes)))
            best = min(best, length)
            threes *= 3
        fives *= 5
    return best


@functools.lru_cache(maxsize=8)
def _k_response(sample_rate: int, size: int) -> Array:
    angle = -2 * np.pi * np.fft.rfftfreq(size)
    response = _k_weighting(sample_rate, np.cos(angle) + 1j * np.sin(angle))  # z^-1 per bin
    return response.astype(np.complex64)


class LoudnessMeter:
    """Gated integrated loudness of one clip, and of that clip under any slow gain curve.

    The K-filter runs once, in the frequency domain (with enough zero padding the product of
    spectra is the filter's linear convolution, the signal lfilter would give). A gain that
    moves slowly next to the filter's memory (a limiter's, block by block) commutes with the
    filter, so the clip after gain and limiting is measured without filtering it again.
    """

    def __init__(self, samples: Array, sample_rate: int) -> None:
        """K-weight the frames (float, frames x channels)."""
        frames = samples.shape[0]
        self._rate = sample_rate
        tail = round(_FILTER_TAIL_S * sample_rate)
        size = _fast_length(min(frames, _CHUNK_FRAMES) + tail)
        step = size - tail
        response = _k_response(sample_rate, size)
        power = np.zeros(frames + size, dtype=np.float32)
        for channel in range(samples.shape[1]):  # BS.1770 weights L, R (and mono) by 1.0
            weighted = np.zeros(frames + size, dtype=np.float32)
            # Overlap-add: FFTs of a cache-friendly size rather than one of the whole clip.
            for begin in range(0, frames, step):
                chunk = samples[begin:begin + step, channel]
                weighted[begin:begin + size] += np.fft.irfft(np.fft.rfft(chunk, size) * response,
                                                             size)
            power += weighted * weighted
        self._power = power[:frames]

    def lufs(self, gain: Array | None = None) -> float:
        """Loudness after a gain curve (linear, one per frame), or as it is; -inf when silent."""
        return _gated(self._power if gain is None else self._power * (gain * gain), self._rate)


def integrated_lufs(samples: Array, sample_rate: int) -> float:
    """Gated integrated loudness of float frames (-inf for silence or a clip under 400 ms)."""
    return LoudnessMeter(samples, sample_rate).lufs()


def _gated(power: Array, sample_rate: int) -> float:
    hop = round(_HOP_S * sample_rate)
    per_block = round(_BLOCK_S / _HOP_S)
    hops = power.shape[0] // hop
    if hops < per_block:
        return -math.inf
    # 400 ms blocks every 100 ms: sums of four consecutive 100 ms hops (a clip's last partial
    # hop is left out, as a gating block must be whole).
    hop_energy = power[: hops * hop].reshape(hops, hop).sum(axis=1)
    energy = sum(hop_energy[i: hops - per_block + 1 + i] for i in range(per_block))
    energy = np.asarray(energy) / (per_block * hop)
    with np.errstate(divide="ignore"):
        loudness = -0.691 + 10 * np.log10(energy)
    energy = energy[loudness > _ABSOLUTE_GATE]
    if energy.size == 0:
        return -math.inf
    relative = -0.691 + 10 * math.log10(energy.mean()) + _RELATIVE_GATE
    with np.errstate(divide="ignore"):
        energy = energy[-0.691 + 10 * np.log10(energy) > relative]
    return -0.691 + 10 * math.log10(energy.mean())


def _interpolator() -> Array:
    """Weights of x[i-5] ... x[i+6] giving x at i + 1/4, 2/4, 3/4 (Kaiser-windowed sinc)."""
    half = _TP_TAPS_PER_PHASE // 2
    fractions = np.arange(1, _OVERSAMPLE)[:, None] / _OVERSAMPLE
    distance = fractions - np.arange(-half + 1, half + 1)[None, :]
    window = np.i0(8.0 * np.sqrt(np.clip(1 - (distance / half) ** 2, 0, None))) / np.i0(8.0)
    weights = np.sinc(distance) * window
    return weights / weights.sum(axis=1, keepdims=True)


_PHASES = _interpolator()


def true_peak_db(samples: Array) -> float:
    """Highest inter-sample peak in dBTP (4x oversampled), the sample peak included."""
    peak = float(np.abs(samples).max(initial=0.0))
    if peak == 0:
        return -math.inf
    half = _TP_TAPS_PER_PHASE // 2
    offsets = np.arange(-half + 1, half + 1)
    for channel in range(samples.shape[1]):
        column = samples[:, channel]
        # An inter-sample peak lies next to loud samples (it tops them by a few dB at most):
        # interpolate only on both sides of those (not at the very edges, where there is none).
        loud = np.abs(column) >= peak * _TP_NEIGHBOUR_RATIO
        loud[:-1] |= loud[1:]
        loud[: half - 1] = False
        loud[column.size - half:] = False
        bases = np.flatnonzero(loud)
        # einsum, not a matrix product: BLAS would wake its thread pool (slow on a busy box).
        between = np.einsum("nk,pk->np", column[bases[:, None] + offsets[None, :]], _PHASES)
        peak = max(peak, float(np.abs(between).max(initial=0.0)))
    return 20 * math.log10(peak)


def limit_curve(samples: Array, sample_rate: int, ceiling_db: float) -> Array | None:
    """A per-frame gain that holds every sample peak at or under ceiling_db; None if none needs it.

    The gain is chosen per short block (no more than the block's loudest sample allows),
    falling ahead of a peak and rising after it no faster than the attack and release rates,
    and drawn as straight lines between block boundaries. A boundary takes the lower gain of
    the blocks on either side, so each line stays under what its block allows.
    """
    ceiling = 10 ** (ceiling_db / 20)
    frames = samples.shape[0]
    peak = np.abs(samples[:, 0]) if samples.shape[1] == 1 else np.abs(samples).max(axis=1)
    if frames == 0 or peak.max() <= ceiling:
        return None
    block = max(1, round(_LIMIT_BLOCK_S * sample_rate))
    count = -(-frames // block)
    padded = np.zeros(count * block, dtype=samples.dtype)
    padded[:frames] = peak
    loudest = np.maximum(padded.reshape(count, block).max(axis=1), 1e-12)
    need = np.minimum(0.0, 20 * np.log10(ceiling / loudest))
    # The gain may rise by at most `step` dB per block: gain[i] <= min_j (gain[j] + (i-j) step),
    # a running minimum after a ramp is taken off; the same backwards for the attack.
    index = np.arange(count)
    release = _RELEASE_DB_PER_S * _LIMIT_BLOCK_S
    gain = index * release + np.minimum.accumulate(need - index * release)
    attack = _ATTACK_DB_PER_S * _LIMIT_BLOCK_S
    back = (count - 1 - index) * attack
    gain = np.minimum(gain, back + np.minimum.accumulate((gain - back)[::-1])[::-1])
    linear = (10 ** (gain / 20)).astype(np.float32)
    edges = np.minimum(np.concatenate((linear[:1], linear)), np.concatenate((linear, linear[-1:])))
    ramp = (np.arange(block, dtype=np.float32) / block)[None, :]
    curve = (edges[1:] - edges[:-1])[:, None] * ramp
    curve += edges[:-1, None]
    return curve.ravel()[:frames]
