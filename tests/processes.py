"""Starting and stopping real ``gridedge`` processes from tests, one way for every test."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterable
from pathlib import Path

from tests.conftest import REPO, gridedge_command

__all__ = ["start_gridedge", "stop_gridedge"]

HANG_GUARD_S = 30


def start_gridedge(args: list[str], *, log: Path | None = None, lang: str = "zh",
                   cwd: Path | None = None, unset: Iterable[str] = ()) -> subprocess.Popen[str]:
    """``gridedge --lang LANG ARGS`` in the background.

    Output goes to ``log`` (appended, so that a restarted daemon keeps the earlier lines) or, with
    no log, to a pipe the test reads. ``unset`` names environment variables the process must not
    see (a test that checks a default, say).
    """
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for name in unset:
        env.pop(name, None)
    out = log.open("a") if log is not None else subprocess.PIPE
    return subprocess.Popen([*gridedge_command(), "--lang", lang, *args],  # noqa: S603
                            stdout=out, stderr=subprocess.STDOUT, text=True, env=env,
                            cwd=cwd or REPO)


def stop_gridedge(process: subprocess.Popen[str], hang_guard_s: float = HANG_GUARD_S) -> int:
    """SIGTERM and wait for the exit code; kill only if it hangs (then the code is negative)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(hang_guard_s)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait(HANG_GUARD_S)
