"""An urgent announcement in parts: the first words play while the rest is still being spoken.

A neural voice speaks about as fast as it renders (real-time factor ~1 on two cores), so a
40-character emergency rendered whole reaches the speakers only after ~10 s of rendering. Cut
into parts at the punctuation, the first part (a clause of a few characters) renders in a second
or two and plays while the next ones render, one after the other. The speaker plays them in
order: the channel sends a part when the speaker reports the previous one finished (or, for a
speaker without that report, when its duration has passed), the way the real cloud-speaker
protocols allow (none of them queues a second clip: a new play replaces the current one).

Parts grow no longer than the few clauses that render while the part before plays, so the
pauses between them stay those of the punctuation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["SpokenPart", "spoken_parts"]

# Where a sentence ends, and where a long one may be cut (Chinese and ASCII punctuation).
_SENTENCE_END = "。！？；!?;"
_CLAUSE_END = "，：、,:"
_PIECE = re.compile(rf"[^{_SENTENCE_END}{_CLAUSE_END}]*[{_SENTENCE_END}{_CLAUSE_END}]*")
FIRST_PART_MIN_CHARS = 4   # "紧急通知：" alone is a good first part; a lone "请，" is not
LATER_PART_MAX_CHARS = 16  # ~4 s of speech: renders while a part of that length plays
SPLIT_MIN_CHARS = 12       # shorter texts render fast enough whole


@dataclass(frozen=True)
class SpokenPart:
    """One part of an announcement as one clip.

    Args:
        text: what this part says.
        index: 0 for the first part (with the site's chime and pre-roll), 1, 2, ... after it.
        repeat: times the text is said in this clip.
        lead_ms: silence before the speech of a later part (the gap before a repeat).
    """

    text: str
    index: int = 0
    repeat: int = 1
    lead_ms: int = 0


def _pieces(text: str) -> list[str]:
    """Clauses with their punctuation; a sentence end stays with the clause before it."""
    return [p for p in _PIECE.findall(text) if p.strip()]


def spoken_parts(text: str, repeat: int = 1, gap_ms: int = 0) -> list[SpokenPart]:
    """The parts of an announcement, first part first; one part when it is short or unsplittable.

    The first part is the first clause (with the next ones while it is under
    FIRST_PART_MIN_CHARS characters); the others group the following clauses up to
    LATER_PART_MAX_CHARS characters, never splitting a clause. Said ``repeat`` times, the whole
    text follows once more as a last part (said ``repeat - 1`` times, after ``gap_ms``).
    """
    text = text.strip()
    pieces = _pieces(text)
    if len(text) < SPLIT_MIN_CHARS or len(pieces) < 2:  # noqa: PLR2004
        return [SpokenPart(text, repeat=repeat)]
    first = ""
    while pieces and len(first) < FIRST_PART_MIN_CHARS:
        first += pieces.pop(0)
    texts = [first.strip()]
    current = ""
    for piece in pieces:
        if current and len(current) + len(piece) > LATER_PART_MAX_CHARS:
            texts.append(current.strip())
            current = ""
        current += piece
    if current.strip():
        texts.append(current.strip())
    if len(texts) == 1:
        return [SpokenPart(text, repeat=repeat)]
    parts = [SpokenPart(t, index=i) for i, t in enumerate(texts)]
    if repeat > 1:
        parts.append(SpokenPart(text, index=len(parts), repeat=repeat - 1, lead_ms=gap_ms))
    return parts
