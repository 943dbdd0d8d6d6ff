"""Start, stop and restart a real MQTT broker for a test (mosquitto, else embedded amqtt)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from edge.sim.broker import EmbeddedBroker, free_port, stop_process, wait_for_port

__all__ = ["NEEDS_MOSQUITTO", "Broker", "has_mosquitto"]

CONF_TEMPLATE = Path(__file__).with_name("mosquitto.conf")


def has_mosquitto() -> bool:
    """True when a mosquitto binary is on PATH (or in /usr/sbin, where Debian puts it).

    GRIDEDGE_TEST_BROKER=amqtt forces the embedded broker, to check a machine without mosquitto.
    """
    if os.environ.get("GRIDEDGE_TEST_BROKER") == "amqtt":
        return False
    return _mosquitto() is not None


def _mosquitto() -> str | None:
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


class Broker:
    """One broker on 127.0.0.1:<free port>; it keeps its port across stop() and start()."""

    def __init__(self, workdir: Path, extra_conf: str = "") -> None:
        self.workdir = workdir
        self.port = free_port()
        self.host = "127.0.0.1"
        self.kind = "mosquitto" if has_mosquitto() else "amqtt"
        self.extra_conf = extra_conf
        self._process: subprocess.Popen[bytes] | None = None
        self._embedded: EmbeddedBroker | None = None

    @property
    def log(self) -> str:
        """What mosquitto logged so far (empty for amqtt)."""
        path = self.workdir / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> None:
        """Start and wait until it accepts connections."""
        if self.kind == "amqtt":
            self._embedded = EmbeddedBroker(self.port)
            self._embedded.start()
            return
        conf = self.workdir / "mosquitto.conf"
        # As root, mosquitto drops to user "mosquitto", which cannot read files in pytest's
        # private temp folders (password files, ACLs): stay root for the test broker.
        as_root = "user root\n" if os.geteuid() == 0 else ""
        conf.write_text(CONF_TEMPLATE.read_text() + as_root + self.extra_conf
                        + f"\nlistener {self.port} 127.0.0.1\n"
                        f"log_dest file {self.workdir / 'mosquitto.log'}\n"
                        "log_type error\nlog_type warning\nlog_type notice\n")
        self._process = subprocess.Popen([_mosquitto() or "mosquitto", "-c", str(conf)],  # noqa: S603
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_for_port(self.port):
            self.stop()
            msg = f"mosquitto did not start on port {self.port}: {self.log}"
            raise RuntimeError(msg)

    def stop(self) -> None:
        """Stop (idempotent)."""
        if self._embedded is not None:
            self._embedded.stop()
            self._embedded = None
        if self._process is not None:
            stop_process(self._process)
            self._process = None

    def restart(self) -> None:
        """Stop and start again on the same port."""
        self.stop()
        self.start()


# For tests whose exact delivery expectations amqtt 0.12, the fallback broker, does not meet (it
# delivers a message once per overlapping subscription and replays cleared retained messages).
NEEDS_MOSQUITTO = pytest.mark.skipif(
    not has_mosquitto(), reason="needs mosquitto: amqtt 0.12 (the fallback broker) duplicates "
    "deliveries and replays cleared retained messages, which this test checks exactly")
