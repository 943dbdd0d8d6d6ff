"""Content-addressed clip cache: atomic writes, checked reads, size-bounded eviction."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from audio.const import CACHE_META_SUFFIX, CACHE_PINS_FILE, CACHE_TMP_PREFIX
from audio.errors import CacheError
from audio.models import RenderedClip

logger = logging.getLogger(__name__)

_HASH_CHUNK = 1 << 20
_STALE_TMP_S = 600.0  # a temp file this old belongs to a render that died


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_pins(directory: Path, names: Iterable[str]) -> None:
    """Replace the set of clip file names the cache in ``directory`` must keep (atomic).

    Raises:
        CacheError: the pin file cannot be written.
    """
    text = "".join(f"{name}\n" for name in sorted(set(names)))
    tmp = directory / f"{CACHE_TMP_PREFIX}{uuid.uuid4().hex}.pins"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, directory / CACHE_PINS_FILE)
    except OSError as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        msg = f"clip cache: cannot write the pins of {directory}: {err}"
        raise CacheError(msg) from err


def read_pins(directory: Path) -> set[str]:
    """The clip file names pinned in ``directory`` (none when no pin file is there)."""
    try:
        text = (directory / CACHE_PINS_FILE).read_text(encoding="utf-8")
    except OSError:
        return set()
    return {line for line in text.splitlines() if line}


def cache_key(params: dict[str, Any]) -> str:
    """Key of a clip: sha256 of its rendering parameters as canonical JSON."""
    canonical = json.dumps(params, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ClipCache:
    """Clips under `<directory>/<key><suffix>`, each with a JSON sidecar holding its sha256.

    An entry counts only when its sidecar exists and the clip's bytes still hash to the
    sidecar's sha256, so a truncated, emptied or replaced file is never served.
    """

    def __init__(self, directory: Path, max_bytes: int) -> None:
        """Store the settings; the directory is created on first write."""
        self._dir = Path(directory)
        self._max_bytes = max_bytes
        self._evict_lock = threading.Lock()

    @property
    def directory(self) -> Path:
        """Where the clips live."""
        return self._dir

    def lookup(self, key: str, suffix: str) -> RenderedClip | None:
        """Return the cached clip for a key, or None when absent or damaged (then removed)."""
        path, meta_path = self._paths(key, suffix)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            sha, size, duration = meta["sha256"], meta["size"], float(meta["duration_s"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as err:
            logger.warning("clip cache: unreadable sidecar %s (%s); rendering anew", meta_path, err)
            self._remove(key, suffix)
            return None
        try:
            good = path.stat().st_size == size and size > 0 and file_sha256(path) == sha
        except OSError:
            good = False
        if not good:
            logger.warning("clip cache: %s is missing or damaged; rendering anew", path)
            self._remove(key, suffix)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # mtime = last use, for eviction
        return RenderedClip(path, sha, duration)

    def temp_path(self, suffix: str) -> Path:
        """A fresh temporary file name inside the cache directory (same filesystem as entries)."""
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            msg = f"clip cache: cannot create {self._dir}: {err}"
            raise CacheError(msg) from err
        return self._dir / f"{CACHE_TMP_PREFIX}{uuid.uuid4().hex}{suffix}"

    def commit(
        self, key: str, suffix: str, tmp: Path, duration_s: float, params: dict[str, Any]
    ) -> RenderedClip:
        """Move a verified temp file into place atomically and record its sidecar."""
        path, meta_path = self._paths(key, suffix)
        try:
            with tmp.open("rb+") as file:
                os.fsync(file.fileno())
            sha, size = file_sha256(tmp), tmp.stat().st_size
            os.replace(tmp, path)
            meta = {"sha256": sha, "size": size, "duration_s": duration_s,
                    "created": time.time(), "params": params}
            meta_tmp = self.temp_path(CACHE_META_SUFFIX)
            meta_tmp.write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
            os.replace(meta_tmp, meta_path)
        except OSError as err:
            with contextlib.suppress(OSError):
                tmp.unlink()
            msg = f"clip cache: cannot write {path}: {err}"
            raise CacheError(msg) from err
        self._evict(keep=path)
        return RenderedClip(path, sha, duration_s)

    def discard(self, tmp: Path) -> None:
        """Remove a temp file of a failed render."""
        with contextlib.suppress(OSError):
            tmp.unlink()

    def _paths(self, key: str, suffix: str) -> tuple[Path, Path]:
        return self._dir / f"{key}{suffix}", self._dir / f"{key}{CACHE_META_SUFFIX}"

    def _remove(self, key: str, suffix: str) -> None:
        for path in self._paths(key, suffix):
            with contextlib.suppress(OSError):
                path.unlink()

    def _evict(self, keep: Path) -> None:
        """Delete least recently used clips until the cache fits its size bound."""
        with self._evict_lock:
            entries: list[tuple[float, int, Path, Path]] = []
            total = 0
            now = time.time()
            pinned = read_pins(self._dir)
            for path in self._dir.iterdir():
                if path.name == CACHE_PINS_FILE:
                    continue
                try:
                    stat = path.stat()
                except OSError:
                    continue
                if path.name.startswith(CACHE_TMP_PREFIX):
                    if now - stat.st_mtime > _STALE_TMP_S:
                        with contextlib.suppress(OSError):
                            path.unlink()
                    continue
                total += stat.st_size
                if path.suffix != CACHE_META_SUFFIX:
                    meta = path.with_suffix(CACHE_META_SUFFIX)
                    entries.append((stat.st_mtime, stat.st_size, path, meta))
            if total <= self._max_bytes:
                return
            for _mtime, size, path, meta in sorted(entries, key=lambda e: e[0]):
                if path == keep or path.name in pinned:
                    continue  # the newest clip, and clips a schedule or queue still refers to
                meta_size = meta.stat().st_size if meta.exists() else 0
                for victim in (path, meta):
                    with contextlib.suppress(OSError):
                        victim.unlink()
                total -= size + meta_size
                logger.debug("clip cache: evicted %s", path.name)
                if total <= self._max_bytes:
                    return
            logger.warning(
                "clip cache: %s holds %d bytes, over its bound of %d, after evicting all else",
                self._dir, total, self._max_bytes,
            )
