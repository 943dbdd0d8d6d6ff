"""The one bounded decoder every inbound payload goes through (posts, resets, alert acknowledgements)."""

from __future__ import annotations

import pytest

from edge.payload import MAX_DEPTH, PayloadError, loads


@pytest.mark.parametrize(("payload", "reason"), [
    (b"[" * 5000 + b"]" * 5000, "not_json"),  # beyond orjson's own limit: refused, no recursion
    (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "too_deep"),
    (b'{"a":' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1), "too_deep"),
    (b'{"port": NaN}', "not_json"),
    (b'{"port": Infinity}', "not_json"),
    (b'{"port": -Infinity}', "not_json"),
    (b"\xff\xfe{}", "not_utf8"),
    (b" " * (64 * 1024 + 1), "oversized"),
    (b"", "not_json"),
])
def test_hostile_payloads_are_refused_with_a_reason(payload: bytes, reason: str) -> None:
    """Test that deep, non-finite, non-UTF-8, oversized and empty payloads raise PayloadError with a countable reason."""
    with pytest.raises(PayloadError) as caught:
        loads(payload)
    assert caught.value.reason == reason


def test_ordinary_payloads_and_brackets_inside_strings_are_read() -> None:
    """Test that real payloads, and text full of brackets at a shallow depth, are read as they are."""
    assert loads(b'{"port": 1, "by": "\\u5f20\\u4e09"}') == {"port": 1, "by": "张三"}
    text = "[" * 100
    assert loads(('{"note": "' + text + '"}').encode()) == {"note": text}
    nested = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert loads(nested) is not None
