"""The one message catalogue: English message ids, translated through gettext (Chinese by default).

Staff read Chinese, so messages they see go through ``_()`` and are looked up in
``edge/locale/<lang>.po``. The ``.po`` file is the single source of truth; it is compiled in
memory with polib at first use, so no binary ``.mo`` file has to be kept in sync by hand.
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
                source = resources.files("edge.locale").joinpath(f"{lang}.po").read_text("utf-8")
                mo = polib.pofile(source).to_binary()
                _catalogues[lang] = gettext.GNUTranslations(io.BytesIO(mo))
        return _catalogues[lang]


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
