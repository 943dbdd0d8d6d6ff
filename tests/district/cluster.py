"""A 3-node NATS cluster with JetStream and the MQTT gateway, on free loopback ports, for tests.

nats-server's MQTT gateway keeps sessions, retained messages and QoS 1 messages in JetStream, so
the cluster is only usable once JetStream has a meta leader: :meth:`NatsCluster.start` waits for
every node's ``/healthz`` (which checks JetStream) and then for an MQTT QoS 1 round trip through
every node, so that a test never races the election.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from edge.sim.broker import free_port, stop_process, wait_for_port

__all__ = ["NatsCluster", "NatsNode", "has_nats_server", "nats_server"]

READY_TIMEOUT_S = 60.0
# A node whose port was taken between picking it and binding it (free ports are picked before the
# servers start, and another test's connection can get the same one) exits at once, and the
# others then never place a 3-replica stream: the cluster is started again on new ports.
START_ATTEMPTS = 3
MQTT_ACK_WAIT = "5s"  # as deploy/district recommends for a district cluster


def nats_server() -> str | None:
    """The nats-server binary (Debian puts it in /usr/sbin), or None."""
    return shutil.which("nats-server") or shutil.which("nats-server",
                                                       path="/usr/sbin:/usr/local/sbin")


def has_nats_server() -> bool:
    """True when nats-server is installed."""
    return nats_server() is not None


@dataclass
class NatsNode:
    """One node: its client, cluster, MQTT and monitoring ports, and its own store."""

    name: str
    workdir: Path
    client_port: int = field(default_factory=free_port)
    cluster_port: int = field(default_factory=free_port)
    mqtt_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> str:
        """What the node logged so far."""
        path = self.workdir / "nats.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def conf(self, cluster_name: str, routes: list[int], replicas: int) -> str:
        """The node's configuration file text."""
        route_list = ", ".join(f'"nats-route://127.0.0.1:{p}"' for p in routes)
        return (f'server_name: "{self.name}"\n'
                f"listen: 127.0.0.1:{self.client_port}\n"
                f"http: 127.0.0.1:{self.http_port}\n"
                f'log_file: "{self.workdir / "nats.log"}"\n'
                f'jetstream {{ store_dir: "{self.workdir / "js"}", max_mem: 64M, max_file: 512M }}\n'
                f'cluster {{ name: "{cluster_name}", listen: 127.0.0.1:{self.cluster_port}, '
                f"routes: [{route_list}] }}\n"
                # Every MQTT stream on every node: losing one node loses nothing. A QoS 1
                # message not acknowledged (its delivery went with a connection that dropped) is
                # sent again after ack_wait: nats-server's default, 30 s, is as long as a test
                # waits, and a redelivery then failed a test under load although nothing was lost.
                f"mqtt {{ listen: 127.0.0.1:{self.mqtt_port}, stream_replicas: {replicas}, "
                f'ack_wait: "{MQTT_ACK_WAIT}" }}\n')


class NatsCluster:
    """Three nats-server processes clustered on loopback; each node can be stopped and restarted."""

    def __init__(self, workdir: Path, size: int = 3, name: str = "district") -> None:
        self.workdir = workdir
        self.name = name
        self.nodes = [NatsNode(f"n{i + 1}", workdir / f"n{i + 1}") for i in range(size)]

    @property
    def mqtt_ports(self) -> list[int]:
        """The MQTT port of every node, in node order."""
        return [n.mqtt_port for n in self.nodes]

    def start(self) -> None:
        """Start every node and wait until the cluster carries MQTT QoS 1 on every node."""
        for attempt in range(1, START_ATTEMPTS + 1):
            for node in self.nodes:
                self.start_node(node, wait=False)
            deadline = time.monotonic() + READY_TIMEOUT_S
            try:
                for node in self.nodes:
                    self._wait_ready(node, deadline)
                return
            except RuntimeError:
                if attempt == START_ATTEMPTS:
                    raise
            self.nodes = [NatsNode(n.name, self.workdir / f"retry{attempt}" / n.name)
                          for n in self.nodes]

    def start_node(self, node: NatsNode, *, wait: bool = True) -> None:
        """Start one node (again), with the routes to all the others."""
        node.workdir.mkdir(parents=True, exist_ok=True)
        conf = node.workdir / "nats.conf"
        conf.write_text(node.conf(self.name, [n.cluster_port for n in self.nodes
                                              if n is not node], len(self.nodes)))
        node.process = subprocess.Popen([nats_server() or "nats-server", "-c", str(conf)],  # noqa: S603
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        env={**os.environ})
        if wait:
            self._wait_ready(node, time.monotonic() + READY_TIMEOUT_S)

    def stop_node(self, node: NatsNode) -> None:
        """Stop one node (SIGTERM, then SIGKILL); idempotent."""
        if node.process is not None:
            stop_process(node.process)
            node.process = None

    def kill_node(self, node: NatsNode) -> None:
        """Kill one node at once, as a crash would."""
        if node.process is not None:
            node.process.kill()
            node.process.wait()
            node.process = None

    def stop(self) -> None:
        """Stop every node."""
        for node in self.nodes:
            self.stop_node(node)

    def _wait_ready(self, node: NatsNode, deadline: float) -> None:
        while time.monotonic() < deadline:
            if (wait_for_port(node.mqtt_port, 0.2) and _healthy(node)
                    and _mqtt_round_trip(node.mqtt_port)):
                return
            gone = [n for n in self.nodes if n.process is not None and n.process.poll() is not None]
            if gone:
                self.stop()
                msg = f"nats node {gone[0].name} exited: {gone[0].log[-2000:]}"
                raise RuntimeError(msg)
            time.sleep(0.2)
        self.stop()
        msg = f"nats node {node.name} not ready for MQTT QoS 1: {node.log[-2000:]}"
        raise RuntimeError(msg)


def _healthy(node: NatsNode) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{node.http_port}/healthz",  # noqa: S310
                                    timeout=2) as response:
            return response.status == 200  # noqa: PLR2004
    except (urllib.error.URLError, OSError):
        return False


def _mqtt_round_trip(port: int, timeout: float = 5.0) -> bool:
    """Publish a QoS 1 message to oneself through the node; True when it came back."""
    got = threading.Event()
    topic = f"readiness/{port}/{time.monotonic_ns()}"
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"ready-{port}-{time.monotonic_ns()}",
                         protocol=paho.MQTTv311)
    client.on_message = lambda *_: got.set()
    subscribed = threading.Event()
    client.on_subscribe = lambda *_: subscribed.set()
    try:
        client.connect("127.0.0.1", port, keepalive=10)
    except OSError:
        return False
    client.loop_start()
    try:
        client.subscribe(topic, qos=1)
        if not subscribed.wait(timeout):
            return False
        client.publish(topic, b"ready", qos=1)
        return got.wait(timeout)
    finally:
        client.disconnect()
        client.loop_stop()
