"""The README and the staff guide work as written: their commands, pasted into a fresh clone."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

README = REPO / "README.md"
GUIDE = REPO / "docs" / "zh" / "排程编辑指南.md"
_SH_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
_ANY_BLOCK = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
# A command someone would paste: `gridedge <subcommand>` not preceded by a path.
_BARE = re.compile(r"(?<![\w/.-])gridedge (?:check|run|demo|schedule|say|plays|posts|alerts|"
                   r"simulate|bridge|audio|--lang)")
# The demo runs until Ctrl-C: the test stops it after this many seconds.
DEMO_S = 20
INSTALL_GUARD_S = 900


def _sh_blocks() -> list[str]:
    return [m[1] for m in _SH_BLOCK.finditer(README.read_text(encoding="utf-8"))]


def _code(text: str) -> list[str]:
    """Every command-like piece of a markdown text: fenced blocks and `inline code`."""
    blocks = [m[1] for m in _ANY_BLOCK.finditer(text)]
    rest = _ANY_BLOCK.sub("", text)
    return blocks + re.findall(r"`([^`\n]+)`", rest)


@pytest.mark.parametrize("document", [README, GUIDE], ids=["README", "guide"])
def test_every_command_names_the_installed_program(document: Path) -> None:
    """Test that no command in the README or the staff guide uses a bare `gridedge`, which is
    not on the PATH after the README's set-up (a quoted program message may name one)."""
    bare = [piece for piece in _code(document.read_text(encoding="utf-8"))
            if _BARE.search(piece) and "在运行吗" not in piece]
    assert bare == []


def _run(command: str, cwd: Path, env: dict[str, str], timeout: float = INSTALL_GUARD_S,
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


@pytest.mark.timeout(2 * INSTALL_GUARD_S)
@pytest.mark.skipif(bool(os.environ.get("GRIDEDGE_SKIP_README_TEST")),
                    reason="GRIDEDGE_SKIP_README_TEST is set (it installs a fresh clone: minutes)")
@pytest.mark.long
def test_readme_commands_work_pasted_into_a_fresh_clone(tmp_path: Path) -> None:
    """Test that the README's demo command, test set-up, environment file and everyday commands
    run as written in a fresh clone (pip's own cache is reused; the demo runs for DEMO_S seconds
    and the test command runs one test file instead of the whole suite)."""
    clone = tmp_path / "gridedge"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GRIDEDGE_", "VIRTUAL_ENV", "PYTEST", "PYTHONPATH"))}
    blocks = _sh_blocks()
    demo = next(b for b in blocks if "gridedge demo" in b).strip()
    done = _run(f"{demo} --duration {DEMO_S}", clone, env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    tests = next(b for b in blocks if "pytest" in b and "GRIDEDGE_TEST_BROKER" not in b).strip()
    assert tests.endswith("-m pytest -q")
    done = _run(tests + " -n 0 -p no:cacheprovider tests/edge/config/test_advice.py", clone, env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "3 passed" in done.stdout
    check = next(b for b in blocks if "gridedge.env" in b)
    done = _run(check, clone, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "检查通过" in done.stdout
    for command in (".venv/bin/gridedge schedule preview --date 2026-12-01 --speaker 东门",
                    ".venv/bin/gridedge --lang en check -c config.yaml",
                    ".venv/bin/gridedge audio voices"):
        done = _run("set -a && . ./gridedge.env && set +a && " + command, clone, env, timeout=120)
        assert done.returncode == 0, command + "\n" + done.stdout + done.stderr
