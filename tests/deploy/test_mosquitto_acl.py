"""deploy/mosquitto: the shipped broker config and ACL, started as they are, deny what they must."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from edge.sim.broker import free_port, wait_for_port
from tests.broker.harness import has_mosquitto
from tests.conftest import REPO

DEPLOY = REPO / "deploy" / "mosquitto"
SITE = "gridedge/jianyuan1"
USERS = ("gridedge", "office", "east_gate", "south_gate", "P01", "P02")
WAIT = 10.0  # hang guard for broker replies, not a speed limit

pytestmark = pytest.mark.skipif(
    not (has_mosquitto() and shutil.which("mosquitto_passwd")),
    reason="needs mosquitto and mosquitto_passwd (Debian package mosquitto)")


@dataclass
class SecureBroker:
    """The shipped configuration running on free ports with test certificates."""

    plain_port: int
    tls_port: int
    ca_file: Path
    log: Path


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    """Start mosquitto with deploy/mosquitto/gridedge.conf and acl; only paths and ports moved."""
    trustme = pytest.importorskip("trustme")
    work = tmp_path_factory.mktemp("deploy-mosquitto")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(work / "ca.crt"))
    cert.cert_chain_pems[0].write_to_path(str(work / "server.crt"))
    cert.private_key_pem.write_to_path(str(work / "server.key"))
    passwd = work / "passwd"
    for i, user in enumerate(USERS):
        subprocess.run(["mosquitto_passwd", *(["-c"] if i == 0 else []), "-b",  # noqa: S607
                        str(passwd), user, f"pw-{user}"], check=True, capture_output=True)
    shutil.copy(DEPLOY / "acl", work / "acl")
    plain, tls = free_port(), free_port()
    conf = (DEPLOY / "gridedge.conf").read_text()
    conf = conf.replace("/etc/mosquitto/gridedge/", f"{work}/")
    conf = conf.replace("/var/lib/mosquitto/", f"{work}/")
    conf = conf.replace("listener 1883 127.0.0.1", f"listener {plain} 127.0.0.1")
    conf = conf.replace("listener 8883", f"listener {tls} 127.0.0.1")
    log = work / "mosquitto.log"
    # As root mosquitto would drop to user "mosquitto", which cannot read pytest's temp folder.
    header = "user root\n" if os.geteuid() == 0 else ""
    (work / "mosquitto.conf").write_text(f"{header}log_dest file {log}\n{conf}")
    process = subprocess.Popen(["mosquitto", "-c", str(work / "mosquitto.conf")],  # noqa: S607
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for_port(plain) and wait_for_port(tls), log.read_text() if log.exists() else ""
        yield SecureBroker(plain, tls, work / "ca.crt", log)
    finally:
        process.terminate()
        process.wait(10)


class Client:
    """A paho MQTT 5 client that records connect, subscribe and publish results."""

    def __init__(self, broker: SecureBroker, user: str | None, *, tls: bool = False,
                 password: str | None = None) -> None:
        self.connack: ReasonCode | None = None
        self.suback: list[ReasonCode] = []
        self.messages: list[tuple[str, bytes]] = []
        self._event = threading.Event()
        self._client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        if user is not None:
            self._client.username_pw_set(user, password or f"pw-{user}")
        if tls:
            self._client.tls_set(ca_certs=str(broker.ca_file), cert_reqs=ssl.CERT_REQUIRED)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = lambda _c, _u, m: self.messages.append((m.topic, m.payload))
        self._client.connect("127.0.0.1", broker.tls_port if tls else broker.plain_port)
        self._client.loop_start()
        assert self._event.wait(WAIT), "no CONNACK"

    def _on_connect(self, _c: paho.Client, _u: object, _f: object, reason: ReasonCode,
                    _p: object) -> None:
        self.connack = reason
        self._event.set()

    def _on_subscribe(self, _c: paho.Client, _u: object, _mid: int, reasons: list[ReasonCode],
                      _p: object) -> None:
        self.suback = reasons
        self._event.set()

    @property
    def accepted(self) -> bool:
        """The broker accepted the connection."""
        return self.connack is not None and not self.connack.is_failure

    def subscribe(self, topic: str) -> ReasonCode:
        """Subscribe and return the broker's answer."""
        self._event.clear()
        self._client.subscribe(topic, qos=1)
        assert self._event.wait(WAIT), "no SUBACK"
        return self.suback[0]

    def publish(self, topic: str, payload: str) -> ReasonCode:
        """Publish at QoS 1 and return the PUBACK reason (MQTT 5 says "Not authorized")."""
        result: list[ReasonCode] = []
        done = threading.Event()

        def on_publish(_c: paho.Client, _u: object, _mid: int, reason: ReasonCode,
                       _p: object) -> None:
            result.append(reason)
            done.set()

        self._client.on_publish = on_publish
        self._client.publish(topic, payload, qos=1)
        assert done.wait(WAIT), "no PUBACK"
        return result[0]

    def close(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()


def test_anonymous_and_wrong_password_are_refused(secure_broker: SecureBroker) -> None:
    """Test that a client without credentials, or with a wrong password, cannot connect at all."""
    anonymous = Client(secure_broker, None)
    wrong = Client(secure_broker, "east_gate", password="guess")
    assert not anonymous.accepted
    assert not wrong.accepted
    anonymous.close()
    wrong.close()


def test_speaker_cannot_play_on_another_speaker(secure_broker: SecureBroker) -> None:
    """Test that the east gate's credential cannot command the south gate speaker."""
    south = Client(secure_broker, "south_gate", tls=True)
    east = Client(secure_broker, "east_gate", tls=True)
    assert south.subscribe(f"{SITE}/speakers/south_gate/cmd").getName() == "Granted QoS 1"
    reason = east.publish(f"{SITE}/speakers/south_gate/cmd", '{"action": "play"}')
    assert reason.getName() == "Not authorized"
    # A control message from the daemon proves the south gate would have received a command.
    daemon = Client(secure_broker, "gridedge")
    daemon.publish(f"{SITE}/speakers/south_gate/cmd", "control")
    assert _eventually(lambda: south.messages)
    assert [p for _, p in south.messages] == [b"control"]
    for client in (south, east, daemon):
        client.close()


def test_speaker_cannot_listen_to_everything(secure_broker: SecureBroker) -> None:
    """Test that a speaker subscribed to '#' receives only its own commands, nothing else."""
    east = Client(secure_broker, "east_gate", tls=True)
    # mosquitto 2.0 grants the subscription and applies the read ACL at delivery.
    east.subscribe("#")
    daemon = Client(secure_broker, "gridedge")
    for topic in (f"{SITE}/speakers/south_gate/cmd", f"{SITE}/posts/P01/cmd",
                  f"{SITE}/alerts/a1", f"{SITE}/speakers/east_gate/cmd"):
        daemon.publish(topic, topic)
    assert _eventually(lambda: east.messages)
    assert [t for t, _ in east.messages] == [f"{SITE}/speakers/east_gate/cmd"]
    east.close()
    daemon.close()


def test_daemon_reaches_its_speaker_and_hears_its_status(secure_broker: SecureBroker) -> None:
    """Test that the daemon may command a speaker and the speaker may answer on its own topic."""
    daemon = Client(secure_broker, "gridedge")
    east = Client(secure_broker, "east_gate", tls=True)
    assert east.subscribe(f"{SITE}/speakers/east_gate/cmd").getName() == "Granted QoS 1"
    assert daemon.subscribe(f"{SITE}/speakers/+/status").getName() == "Granted QoS 1"
    assert daemon.publish(f"{SITE}/speakers/east_gate/cmd", "play").is_failure is False
    assert east.publish(f"{SITE}/speakers/east_gate/status", "done").is_failure is False
    assert east.publish(f"{SITE}/speakers/south_gate/status", "done").getName() == "Not authorized"
    daemon.close()
    east.close()


@pytest.mark.parametrize("user", ["east_gate", "P01", "gridedge-bridge-not-a-user"])
def test_only_office_and_daemon_may_announce(secure_broker: SecureBroker, user: str) -> None:
    """Test that devices cannot publish an ad-hoc announcement (only authorised clients can)."""
    client = Client(secure_broker, user, tls=True)
    if client.accepted:
        assert client.publish(f"{SITE}/announce", '{"text": "假通知"}').getName() == "Not authorized"
    client.close()
    office = Client(secure_broker, "office", tls=True)
    assert office.publish(f"{SITE}/announce", '{"text": "测试"}').is_failure is False
    office.close()


def test_post_writes_only_its_own_telemetry(secure_broker: SecureBroker) -> None:
    """Test that a post cannot forge another post's telemetry or send commands."""
    post = Client(secure_broker, "P01", tls=True)
    assert post.publish(f"{SITE}/posts/P01/telemetry", "{}").is_failure is False
    assert post.publish(f"{SITE}/posts/P02/telemetry", "{}").getName() == "Not authorized"
    assert post.publish(f"{SITE}/posts/P02/cmd", "{}").getName() == "Not authorized"
    post.close()


def test_lan_listener_requires_tls(secure_broker: SecureBroker) -> None:
    """Test that the LAN port answers a plain-text MQTT CONNECT with no CONNACK."""
    # MQTT 3.1.1 CONNECT, clean session, keep-alive 10 s, client id "x".
    connect = bytes([0x10, 13, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 10, 0, 1]) + b"x"
    with socket.create_connection(("127.0.0.1", secure_broker.tls_port), timeout=WAIT) as sock:
        sock.sendall(connect)
        try:
            answer = sock.recv(16)
        except ConnectionResetError:
            answer = b""
    assert not answer.startswith(b"\x20")  # 0x20 would be a CONNACK


def test_daemon_connects_over_tls_with_its_password(secure_broker: SecureBroker) -> None:
    """Test that the LAN listener serves a client that verifies the broker's certificate."""
    office = Client(secure_broker, "office", tls=True)
    assert office.accepted
    office.close()


def _eventually(check: object) -> bool:
    for _ in range(int(WAIT / 0.05)):
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False
