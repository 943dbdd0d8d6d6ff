"""Mandarin text to Kokoro phonemes: misaki's Chinese front end, plus the site's own readings.

misaki (``misaki[zh]``: jieba for words, pypinyin for readings) turns each word into IPA with
tone arrows. Words the site lists in its pronunciation overrides (place names such as 建院) are
cut out before jieba sees the text and spoken from the pinyin staff wrote.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from typing import Any

from audio.errors import EngineUnavailableError
from audio.pinyin import PinyinError, parse_pinyin

logger = logging.getLogger(__name__)

_HAN_RE = re.compile(r"[\u4e00-\u9fff]+|[^\u4e00-\u9fff]+")
# misaki's legacy path leaves this combining mark in a few finals; Kokoro has no symbol for it.
_DROPPED_MARK = chr(815)

_LOCK = threading.Lock()
_zhg2p: Any = None
_jieba: Any = None


def _front_end() -> tuple[Any, Any]:
    """misaki's ZHG2P class and an initialised jieba, loaded once per process."""
    global _zhg2p, _jieba  # noqa: PLW0603 - one dictionary per process: jieba's own design
    with _LOCK:
        if _zhg2p is None:
            try:
                import jieba  # noqa: PLC0415 - heavy; only the render worker loads it
                from misaki.zh import ZHG2P  # noqa: PLC0415

                jieba.setLogLevel(logging.WARNING)
                jieba.initialize()
            except ImportError as err:
                msg = f"kokoro: the Chinese front end misaki[zh] is not installed: {err}"
                raise EngineUnavailableError(msg) from err
            _zhg2p, _jieba = ZHG2P, jieba
    return _zhg2p, _jieba


class MandarinG2P:
    """Text → phoneme string in the symbols of Kokoro's vocabulary.

    Args:
        overrides: word → pinyin with tone numbers (``{"建院": "jian4 yuan4"}``).

    """

    def __init__(self, overrides: Mapping[str, str] | None = None) -> None:
        """Keep the overrides; the front end loads on first use."""
        self._overrides = dict(overrides or {})
        words = sorted(self._overrides, key=len, reverse=True)  # longest word wins
        self._override_re = re.compile("|".join(re.escape(w) for w in words)) if words else None
        self._ipa: dict[str, str] = {}

    def warm_up(self) -> None:
        """Load jieba and pypinyin now (about a second) rather than on the first clip."""
        self.phonemes("预热")

    def phonemes(self, text: str) -> str:
        """Phonemes of one clause of normalised text (Chinese numerals, full-width punctuation)."""
        zhg2p, jieba = _front_end()
        text = zhg2p.map_punctuation(text)
        parts: list[str] = []
        for run in _HAN_RE.findall(text):
            if "\u4e00" <= run[0] <= "\u9fff":
                parts.append(self._han(run, zhg2p, jieba))
            else:
                parts.append(run)
        return "".join(parts).replace(_DROPPED_MARK, "")

    def _han(self, run: str, zhg2p: Any, jieba: Any) -> str:  # noqa: ANN401 - misaki, jieba untyped
        words: list[str] = []
        position = 0
        for match in self._override_re.finditer(run) if self._override_re else ():
            words.extend(zhg2p.word2ipa(w) for w in jieba.lcut(run[position:match.start()]))
            words.append(self._override_ipa(match.group(0), zhg2p))
            position = match.end()
        words.extend(zhg2p.word2ipa(w) for w in jieba.lcut(run[position:]))
        return " ".join(w for w in words if w)

    def _override_ipa(self, word: str, zhg2p: Any) -> str:  # noqa: ANN401 - misaki untyped
        cached = self._ipa.get(word)
        if cached is not None:
            return cached
        try:
            ipa = "".join(zhg2p.py2ipa(s) for s in parse_pinyin(self._overrides[word]))
        except (PinyinError, AssertionError, KeyError, ValueError) as err:
            # config validation refuses bad pinyin; a syllable misaki still cannot read is read
            # the default way rather than dropping the word.
            logger.warning("pronunciation of %s (%s) unusable: %s; default reading used",
                           word, self._overrides[word], err)
            ipa = zhg2p.word2ipa(word)
        self._ipa[word] = ipa
        return ipa
