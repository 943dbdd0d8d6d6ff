"""The one message catalogue: English message ids, translated through gettext (Chinese by default).

Staff read Chinese, so messages they see go through ``_()`` and are looked up in
``edge/locale/<lang>.po`` and ``edge/locale/<lang>.<part>.po`` (one file per capability, so
that work on one capability never edits another's catalogue). The ``.po`` files are the single
source of truth; they are merged and compiled in memory with polib at first use, so no binary
``.mo`` file has to be kept in sync by hand. A message id defined twice is an error.
"""

from __future__ import annotations

import gettext
import io
import threading
from importlib import resources

import polib

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "N_", "_", "get_language", "set_language"]

DEFAULT_LANGUAGE = "zh"
LANGUAGES = ("zh", "en")

_lock = threading.Lock()
_state: dict[str, object] = {"lang": DEFAULT_LANGUAGE}
_catalogues: dict[str, gettext.NullTranslations] = {}


def _catalogue(lang: str) -> gettext.NullTranslations:
    with _lock:
        if lang not in _catalogues:
            if lang == "en":
                _catalogues[lang] = gettext.NullTranslations()
            else:
                _catalogues[lang] = gettext.GNUTranslations(io.BytesIO(_merged(lang).to_binary()))
        return _catalogues[lang]


def catalogue_files(lang: str) -> list[str]:
    """Names of the .po files of a language: ``<lang>.po`` first, then its parts by name."""
    names = [entry.name for entry in resources.files("edge.locale").iterdir()
             if entry.name.endswith(".po")]
    parts = sorted(n for n in names if n.startswith(f"{lang}.") and n != f"{lang}.po")
    return [f"{lang}.po", *parts]


def _merged(lang: str) -> polib.POFile:
    merged: polib.POFile | None = None
    seen: dict[str, str] = {}
    for name in catalogue_files(lang):
        source = resources.files("edge.locale").joinpath(name).read_text("utf-8")
        po = polib.pofile(source)
        if merged is None:
            merged = po
            seen = {e.msgid: name for e in po}
            continue
        for entry in po:
            if entry.msgid in seen:
                msg = f"message {entry.msgid!r} is defined in {seen[entry.msgid]} and {name}"
                raise ValueError(msg)
            seen[entry.msgid] = name
            merged.append(entry)
    assert merged is not None  # noqa: S101 - <lang>.po always exists
    return merged


def set_language(lang: str) -> None:
    """Choose the language of every message from now on ("zh" or "en")."""
    if lang not in LANGUAGES:
        msg = f"unknown language {lang!r}; choose one of {', '.join(LANGUAGES)}"
        raise ValueError(msg)
    _state["lang"] = lang


def get_language() -> str:
    """Return the language messages are shown in."""
    return str(_state["lang"])


def _(message: str) -> str:
    """Translate one message id (English text) into the current language."""
    return _catalogue(get_language()).gettext(message)


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "translate later"
    """Mark a message id for the catalogue without translating it yet."""
    return message
