"""Checking pinyin that staff write for pronunciation overrides (e.g. ``jian4 yuan4``).

Light on purpose: the daemon validates config.yaml with it, so it imports nothing heavy.
"""

from __future__ import annotations

import re

__all__ = ["PinyinError", "parse_pinyin"]

# Initials, then the finals of Hanyu Pinyin (ü may be typed v or ü), then a tone digit 1-5.
_INITIALS = "zh|ch|sh|[bpmfdtnlgkhjqxrzcsyw]"
_FINALS = (
    "iang|iong|uang|ueng|ang|eng|ing|ong|ian|iao|uai|uan|van|üan|ai|ei|ao|ou|an|en|in|un|vn|ün"
    "|ia|ie|iu|ua|uo|ui|ue|ve|üe|er|io|a|o|e|i|u|v|ü"
)
_SYLLABLE_RE = re.compile(rf"^(?:{_INITIALS})?(?:{_FINALS})([1-5])$")
_TONELESS_RE = re.compile(rf"^(?:{_INITIALS})?(?:{_FINALS})$")
_SEPARATORS_RE = re.compile(r"[\s,，、'’-]+")


class PinyinError(ValueError):
    """Pinyin that is not a run of toned syllables; ``args[0]`` is an English message id."""

    def __init__(self, msgid: str, **args: object) -> None:
        """Keep the message id and its placeholder values apart, for translation."""
        super().__init__(msgid)
        self.msgid = msgid
        self.args_ = args


def parse_pinyin(text: str) -> tuple[str, ...]:
    """Split pinyin with tone numbers into syllables, ``"jian4 yuan4"`` → ``("jian4", "yuan4")``.

    Raises:
        PinyinError: a syllable lacks its tone number or is not a Mandarin syllable.

    """
    syllables = tuple(s.lower().replace("ü", "v") for s in _SEPARATORS_RE.split(text) if s)
    if not syllables:
        raise PinyinError("write the pinyin with tone numbers, e.g. jian4 yuan4")
    for syllable in syllables:
        if _SYLLABLE_RE.match(syllable):
            continue
        if _TONELESS_RE.match(syllable):
            raise PinyinError("'{syllable}' has no tone number: add 1-4 (5 for the neutral "
                              "tone), e.g. {syllable}4", syllable=syllable)
        raise PinyinError("'{syllable}' is not a pinyin syllable with a tone number (e.g. jian4)",
                          syllable=syllable)
    return syllables
