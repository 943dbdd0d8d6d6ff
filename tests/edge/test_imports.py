"""What every gridedge command loads: the daemon runs for months, so its memory counts."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

# Libraries that only one command or the render worker needs (MiB of RSS each when imported).
ONLY_WHERE_NEEDED = ("pymodbus", "serial", "cn2an", "numpy", "onnxruntime", "jieba", "misaki")


def test_the_command_line_loads_no_library_only_one_command_needs() -> None:
    """Test that importing the CLI and the daemon's modules (what `gridedge run` does before it
    starts) leaves the serial bridge's and the voice's libraries unloaded."""
    script = ("import contextlib, io, sys, edge.cli, edge.app\n"
              "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
              "    edge.cli.main(['run', '--help'])  # every subcommand's parser is built\n"
              f"print(sorted(m for m in {ONLY_WHERE_NEEDED!r} if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, timeout=120, cwd=REPO)
    assert out.stdout.strip() == "[]", out.stderr
