"""`gridedge check` warns about a config that is valid but unsafe in the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.cli import main
from tests.conftest import REPO, write_site

ORIGINAL = (REPO / "config.yaml").read_text(encoding="utf-8")


@pytest.fixture(autouse=True)
def _channels(site_environ: dict[str, str]) -> None:
    """Every phone of the shipped roster is set: these tests are about the broker only."""


def _check(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = write_site(tmp_path, text)
    code = main(["--lang", "en", "check", "-c", str(path)])
    return code, capsys.readouterr().err


def test_remote_broker_without_tls_is_warned(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Test that a LAN broker without TLS gets a warning, yet the config stays valid (exit 0)."""
    monkeypatch.setenv("GRIDEDGE_MQTT_PASSWORD", "s3cret")
    code, err = _check(tmp_path, ORIGINAL.replace("host: 127.0.0.1", "host: 192.168.1.20"), capsys)
    assert code == 0
    assert "warning: mqtt: the broker 192.168.1.20 is not on this machine and TLS is off" in err
    assert "no password" not in err


def test_empty_password_is_warned(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Test that running without an MQTT password is pointed out with the fix."""
    monkeypatch.delenv("GRIDEDGE_MQTT_PASSWORD", raising=False)
    code, err = _check(tmp_path, ORIGINAL, capsys)
    assert code == 0
    assert "no password is set" in err
    assert "password: ${GRIDEDGE_MQTT_PASSWORD}" in err


def test_local_broker_with_password_is_quiet(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Test that the recommended set-up (loopback broker, password from env) gives no warning."""
    monkeypatch.setenv("GRIDEDGE_MQTT_PASSWORD", "s3cret")
    code, err = _check(tmp_path, ORIGINAL, capsys)
    assert code == 0
    assert "warning" not in err
