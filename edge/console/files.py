"""Files staff edit in the console: the checks of ``gridedge check``, atomic writes, versions.

A save is checked before anything is written: the edited text is laid over the site's folder
(:func:`overlay`: a scratch folder of symbolic links to everything else, with the edited file as
a real file), and the very functions ``gridedge check`` runs load it from there: the config, the
schedules, who can be paged. Problems come back with their file relative to config.yaml's folder
and their line. Only a text without problems is written, atomically (a temporary file in the same
folder, fsync, rename), so the daemon's reload never sees half a file; the schedule watcher then
loads it within seconds. Every written text is a version (author, time, note) in the database;
the version before the first console edit is kept too, so any version can be put back.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from edge.config import ConfigError, GridedgeConfig, load_config
from edge.config.errors import Problem
from edge.console.const import MAX_FILE_BYTES
from edge.i18n import N_, _
from edge.store import Store

__all__ = ["Checked", "SiteFiles", "Version", "check_site", "overlay"]

M_NOT_EDITABLE = N_("this file cannot be edited here")
M_CHANGED = N_("the file was changed by someone else since you opened it; your text is kept "
               "below: open the file again and redo your change")
M_TOO_LARGE = N_("the text is too long (at most {count} KB)")
ORIGINAL_AUTHOR = "(编辑前的原文件)"


@dataclass(frozen=True)
class Checked:
    """The outcome of checking one edit: problems (file relative to the site folder) or none."""

    problems: list[Problem]

    @property
    def ok(self) -> bool:
        """True when the edit may be written."""
        return not self.problems


@dataclass(frozen=True)
class Version:
    """One saved text of one file."""

    id: int
    file: str
    ts: float
    author: str
    note: str
    content: str


@contextlib.contextmanager
def overlay(root: Path, edits: dict[str, str]) -> Iterator[Path]:
    """A scratch copy of ``root`` in which only the ``edits`` (relative path → text) differ.

    Everything else is a symbolic link to the real file or folder, so nothing is copied and
    nothing real is touched.
    """
    with tempfile.TemporaryDirectory(prefix="gridedge-check-") as scratch:
        top = Path(scratch) / "site"
        top.mkdir()
        parts = {tuple(Path(rel).parts): text for rel, text in edits.items()}
        _mirror(root, top, parts)
        yield top


def _mirror(real: Path, fake: Path, edits: dict[tuple[str, ...], str]) -> None:
    here = {p[0] for p in edits}
    for entry in real.iterdir():
        if entry.name not in here:
            (fake / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    for name in here:
        inner = {p[1:]: t for p, t in edits.items() if p[0] == name and len(p) > 1}
        if inner:
            (fake / name).mkdir()
            if (real / name).is_dir():
                _mirror(real / name, fake / name, inner)
            else:
                _mirror_missing(fake / name, inner)
        else:
            (fake / name).write_text(edits[(name,)], encoding="utf-8")


def _mirror_missing(fake: Path, edits: dict[tuple[str, ...], str]) -> None:
    for parts, text in edits.items():
        target = fake.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def _relative(file: str, roots: list[Path]) -> str:
    path = Path(file)
    if not path.is_absolute():
        path = Path.cwd() / path
    for candidate in (path, path.resolve()):
        for root in roots:
            with contextlib.suppress(ValueError):
                return str(candidate.relative_to(root))
    return file


def check_site(config_path: Path, edits: dict[str, str]) -> Checked:
    """Everything ``gridedge check`` checks, on the site with ``edits`` laid over it."""
    from edge.profiles import load_registry  # noqa: PLC0415 - profiles import config helpers
    from edge.reachability import reachability_problems  # noqa: PLC0415 - as cmd_check does
    from edge.schedule.load import load_schedules  # noqa: PLC0415 - as cmd_check does

    root = config_path.resolve().parent
    # config.yaml is always a real file in the scratch folder: the loader resolves it to find
    # the folder the schedule paths are relative to, and a link would lead back to the real one.
    edits = {config_path.name: config_path.read_text(encoding="utf-8"), **edits}
    with overlay(root, edits) as site:
        problems: list[Problem] = []
        try:
            config = load_config(site / config_path.name, profiles=load_registry())
        except ConfigError as err:
            problems += err.problems
        else:
            try:
                load_schedules(config)
            except ConfigError as err:
                problems += err.problems
            problems += reachability_problems(config)
        roots = [site, site.resolve(), root]
        shown = [Problem(_relative(p.file, roots), p.line, p.path, p.message, p.args, p.got)
                 for p in problems]
    return Checked(sorted(shown, key=lambda p: (p.file, p.line)))


def digest(text: str) -> str:
    """Short fingerprint of a text (to notice a file changed under an open editor)."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class SiteFiles:
    """config.yaml, the schedule files and the holiday file of one site, with their versions.

    Args:
        config: the daemon's configuration (which files, where).
        config_path: config.yaml itself.
        store: the daemon's database (``console_versions``).
    """

    def __init__(self, config: GridedgeConfig, config_path: Path, store: Store) -> None:
        self.config_path = config_path.resolve()
        self.root = self.config_path.parent
        self.store = store
        files = [self.config_path, *(config.resolve(p) for p in config.schedules.files)]
        if config.schedules.holidays_file is not None:
            files.append(config.resolve(config.schedules.holidays_file))
        self.files: list[str] = []
        for path in files:
            with contextlib.suppress(ValueError):
                rel = str(path.resolve().relative_to(self.root))
                if rel not in self.files:
                    self.files.append(rel)

    def path(self, rel: str) -> Path:
        """The real path of an editable file (ValueError for anything else)."""
        if rel not in self.files:
            raise ValueError(_(M_NOT_EDITABLE))
        return self.root / rel

    def read(self, rel: str) -> str:
        """The file's text now ("" when it does not exist yet)."""
        try:
            return self.path(rel).read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""

    def save(self, rel: str, text: str, author: str, *, base: str | None = None,
             note: str = "") -> tuple[Checked, Version | None]:
        """Check ``text`` as the new content of ``rel``; write it and keep a version if valid.

        Args:
            base: :func:`digest` of the text the editor started from; a file changed since is
                refused (nothing written), so that nobody silently undoes another's edit.

        Raises:
            ValueError: not an editable file, too long, or changed since ``base``.
        """
        path = self.path(rel)
        text = text.replace("\r\n", "\n")
        if len(text.encode()) > MAX_FILE_BYTES:
            raise ValueError(_(M_TOO_LARGE).format(count=MAX_FILE_BYTES // 1024))
        current = self.read(rel)
        if base is not None and base != digest(current):
            raise ValueError(_(M_CHANGED))
        checked = check_site(self.config_path, {rel: text})
        if not checked.ok:
            return checked, None
        if not self.versions(rel):
            self._keep(rel, current, ORIGINAL_AUTHOR, "")
        _write_atomically(path, text)
        return checked, self._keep(rel, text, author, note)

    def versions(self, rel: str, limit: int = 1000) -> list[Version]:
        """The saved versions of a file, newest first."""
        rows = self.store.query("SELECT id, file, ts, author, note, content FROM "
                                "console_versions WHERE file = ? ORDER BY id DESC LIMIT ?",
                                (rel, limit))
        return [Version(r["id"], r["file"], r["ts"], r["author"], r["note"], r["content"])
                for r in rows]

    def version(self, version_id: int) -> Version | None:
        """One version by id."""
        rows = self.store.query("SELECT id, file, ts, author, note, content FROM "
                                "console_versions WHERE id = ?", (version_id,))
        return None if not rows else Version(*tuple(rows[0]))

    def diff(self, version: Version) -> list[str]:
        """What this version changed against the one before it (unified diff lines)."""
        rows = self.store.query("SELECT content FROM console_versions WHERE file = ? AND id < ? "
                                "ORDER BY id DESC LIMIT 1", (version.file, version.id))
        before = rows[0]["content"] if rows else ""
        return list(difflib.unified_diff(before.splitlines(), version.content.splitlines(),
                                         fromfile=_("before"), tofile=_("after"), lineterm="",
                                         n=2))

    def _keep(self, rel: str, text: str, author: str, note: str) -> Version:
        now = time.time()
        with self.store.transaction() as db:
            cursor = db.execute("INSERT INTO console_versions (file, ts, author, note, content) "
                                "VALUES (?, ?, ?, ?, ?)", (rel, now, author, note, text))
            version_id = int(cursor.lastrowid or 0)
        return Version(version_id, rel, now, author, note, text)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # the rename itself durable, where the folder allows it
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
