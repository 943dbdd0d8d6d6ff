"""The message catalogue: every message staff can see has a Chinese translation that fits."""

from __future__ import annotations

import ast
import string
from pathlib import Path

import polib
import pytest

from edge.i18n import _, catalogue_files, set_language
from tests.conftest import REPO

LOCALE = REPO / "edge" / "locale"
# Calls whose first string argument (or `message=`) is a catalogue message id.
_MARKERS = {"_", "N_", "fail"}


def _literal(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def message_ids() -> dict[str, str]:
    """Every message id in the packages → where it is used (file:line)."""
    found: dict[str, str] = {}
    for path in sorted((REPO / "edge").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            candidates: list[ast.AST] = []
            if name in _MARKERS and node.args:
                candidates.append(node.args[0])
            elif name == "Problem":
                candidates += node.args[3:4] + [k.value for k in node.keywords if k.arg == "message"]
            for candidate in candidates:
                text = _literal(candidate)
                if text is not None:
                    found.setdefault(text, f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def entries() -> list[polib.POEntry]:
    """Every entry of the Chinese catalogue, over all its part files."""
    return [e for name in catalogue_files("zh") for e in polib.pofile(str(LOCALE / name))]


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_message_has_a_chinese_translation() -> None:
    """Test that no message id used in the code is missing from zh.po (staff would see English)."""
    catalogue = {e.msgid: e.msgstr for e in entries() if e.msgstr}
    missing = {m: where for m, where in message_ids().items() if m not in catalogue}
    assert not missing, "\n".join(f"{where}: {m!r}" for m, where in missing.items())


def test_translations_keep_every_placeholder() -> None:
    """Test that each translation uses exactly the {placeholders} of its English original."""
    bad = [e.msgid for e in entries() if e.msgstr and _fields(e.msgid) != _fields(e.msgstr)]
    assert not bad


@pytest.mark.parametrize(("lang", "expected"), [("zh", "必须是 true 或 false"),
                                                 ("en", "must be true or false")])
def test_language_switch(lang: str, expected: str) -> None:
    """Test that the same message comes out in the chosen language."""
    set_language(lang)
    assert _("must be true or false") == expected


def test_no_message_is_defined_twice() -> None:
    """Test that the catalogue's part files never define the same message twice."""
    ids = [e.msgid for e in entries() if e.msgid]
    assert len(ids) == len(set(ids))


def test_catalogue_has_no_stale_entries() -> None:
    """Test that zh.po holds no message the code no longer uses (it would rot unnoticed)."""
    used = message_ids()
    stale = [e.msgid for e in entries() if e.msgid and e.msgid not in used]
    assert not stale
