"""Shared fixtures: real brokers, unique sites per test, config files, a clean environment."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from edge.i18n import set_language
from tests.broker.harness import Broker

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A broker shared by the whole session (never restarted: use ``own_broker`` for that)."""
    b = Broker(tmp_path_factory.mktemp("broker"))
    b.start()
    yield b
    b.stop()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker of this test alone, which it may stop and restart."""
    b = Broker(tmp_path / "own-broker")
    b.workdir.mkdir()
    b.start()
    yield b
    b.stop()


@pytest.fixture
def site_id(request: pytest.FixtureRequest) -> str:
    """A site id unique to this test, so its topics never meet another test's."""
    name = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name)[:40].strip("-")
    return f"t-{name}-{secrets.token_hex(3)}"


@pytest.fixture(autouse=True)
def _english_then_reset() -> Iterator[None]:
    """Each test starts in Chinese (the default) and leaves the language as it found it."""
    set_language("zh")
    yield
    set_language("zh")


@pytest.fixture
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No GRIDEDGE_* variables leak in from the developer's shell."""
    for name in list(os.environ):
        if name.startswith("GRIDEDGE_"):
            monkeypatch.delenv(name)


# The shipped config.yaml reads every phone from ${GRIDEDGE_ALERT_*:-}; `check` refuses it
# while nobody can be paged. Tests that run it as a valid site give each one a loopback URL
# (port 9, discard: nothing is ever delivered from a `check`).
SITE_CHANNEL_VARS = tuple(dict.fromkeys(re.findall(
    r"\$\{(GRIDEDGE_ALERT_[A-Z0-9_]+)", (REPO / "config.yaml").read_text(encoding="utf-8"))))


@pytest.fixture
def site_environ(clean_environ: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A clean environment with every channel variable of the shipped config.yaml set."""
    del clean_environ
    values = {name: f"json://127.0.0.1:9/{name.lower()}" for name in SITE_CHANNEL_VARS}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def write_site(folder: Path, config_text: str) -> Path:
    """Write a config.yaml into ``folder`` beside a copy of the site's schedule files."""
    shutil.copytree(REPO / "schedules", folder / "schedules", dirs_exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(config_text, encoding="utf-8")
    return path


def site_config(site_id: str, broker: Broker, data_dir: Path, **sections: object) -> dict:
    """The real site's config.yaml as data, pointed at a test broker and data directory."""
    data = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    data["site"]["id"] = site_id
    data["mqtt"] = {"host": broker.host, "port": broker.port, "keepalive_s": 5,
                    "protocol": "5" if broker.kind == "mosquitto" else "3.1.1"}
    data["storage"]["data_dir"] = str(data_dir)
    data["http"]["bind"] = "127.0.0.1"
    data["http"]["port"] = 0
    # The site's own schedule would play in every test: tests bring their own when they need one.
    data["schedules"] = {"files": []}
    # The neural voice costs seconds of CPU per clip: other capabilities' tests speak with
    # espeak-ng; tests/audio holds the site's voice (Kokoro) to its intelligibility bar.
    data["audio"] = {**data["audio"], "engine": "espeak", "voice": "cmn"}
    data.update(sections)
    return data


@pytest.fixture
def write_config(tmp_path: Path, site_id: str):  # noqa: ANN201 - returns a factory
    """Write a config file for this test: ``write_config(broker, **sections) -> Path``."""

    def write(broker: Broker, **sections: object) -> Path:
        path = tmp_path / "config.yaml"
        data = site_config(site_id, broker, tmp_path / "data", **sections)
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
        return path

    return write


def gridedge_command() -> list[str]:
    """How to start the installed ``gridedge`` command from a test."""
    exe = shutil.which("gridedge", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "edge"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long tests first (a stable sort keeps the rest in file order): with four workers, one of
    them starting last would leave the others idle while it runs. pyproject.toml's
    --maxschedchunk 1 spreads them over the workers instead of one worker's first batch."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)
