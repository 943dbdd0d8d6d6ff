"""The repository stands on its own: no file points at something a clone does not have."""

from __future__ import annotations

import re
import subprocess

from tests.conftest import REPO

# Paths of the machine the project was written on, folders beside the repository, and the
# design files kept there (the repository's own design is docs/architecture.md).
OUTSIDE = re.compile(r"\.\./shared|shared/(?:reference|design)|/work/|/home/\w|/Users/\w"
                     r"|\bARCHITECTURE\.md|\bSTYLE\.md")


def test_no_file_refers_outside_the_repository() -> None:
    """Test that no tracked file mentions a path outside the repository (a design folder beside
    it, or an absolute path of a developer's machine)."""
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    found = []
    for name in files:
        path = REPO / name
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary fixtures (recorded frames, clips)
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line) and "OUTSIDE = re.compile" not in line:
                found.append(f"{name}:{number}: {line.strip()}")
    assert not found, "\n".join(found)


def test_the_readme_links_the_architecture_document() -> None:
    """Test that the README links docs/architecture.md and that it names every topic family."""
    assert "(docs/architecture.md)" in (REPO / "README.md").read_text(encoding="utf-8")
    design = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    for topic in ("posts/<post>/reset", "speakers/<spk>/state", "bridge/availability",
                  "sim/posts/<post>/fault", "sim/speakers/<spk>/control", "alerts/<alert_id>/ack",
                  "daemon/availability", "announce", "events"):
        assert f"`{topic}`" in design, topic
