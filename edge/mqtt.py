"""The daemon's one MQTT client: LWT availability, reconnect with backoff, resubscribe, topic router.

paho-mqtt is driven by the asyncio loop itself (its socket is watched with add_reader/add_writer,
as paho's "external event loop" mode allows), so a message is parsed and handed to the module
that subscribed in the same thread, with no hand-off between threads: with paho's own network
thread, the two threads fighting for the GIL cost more than the daemon's whole ingest work.
Only the blocking TCP/TLS connect runs in a worker thread. All canonical topics are built here,
by :class:`Topics`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import ssl
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.config import MqttConfig, MqttProtocol

__all__ = ["BufferedReadClient", "Handler", "Message", "MqttClient", "ReconnectBackoff", "Topics",
           "paho_client"]

logger = logging.getLogger(__name__)

# Reconnect backoff. A broker restart on the box takes a second or two, so while an outage is
# young the attempts follow each other quickly (the delay doubles from RECONNECT_FIRST_S up to
# RECONNECT_YOUNG_MAX_S), and the client is back within about a second of the broker accepting
# connections; an outage older than RECONNECT_YOUNG_FOR_S is retried every RECONNECT_MAX_S.
# Every delay is jittered (between half and all of it) so that clients do not come back in step.
RECONNECT_FIRST_S = 0.1
RECONNECT_YOUNG_MAX_S = 1.0
RECONNECT_YOUNG_FOR_S = 60.0
RECONNECT_MAX_S = 5.0
# paho's keep-alive and retry bookkeeping (loop_misc) runs this often.
MISC_INTERVAL_S = 1.0
# The socket is read READ_BYTES at a time into the client's own buffer, and packets are parsed
# from there: paho alone asks the kernel for each packet three or four times (type, length,
# body), and the loop polls once per packet. Parsed packets are handled in chunks of READ_CHUNK,
# at most READ_ROUNDS chunks per turn of the loop; what handlers published in a chunk (a cut-off
# command) is written before the next one, so a command waits for at most one chunk of other
# messages, not for a whole burst.
READ_BYTES = 65_536
READ_CHUNK = 8
READ_ROUNDS = 25
# Bulk publishes (retained state documents) are handed to paho this many at a time, and only
# when paho has nothing else to send: a command published meanwhile waits behind at most one
# chunk of them, never behind a burst of a thousand.
BULK_CHUNK = 16
# While the broker is away, state and audit publishes (droppable) wait in a queue of at most
# this many; the oldest go first, counted. Commands, alerts and availability are never dropped
# (paho keeps them; their producers bound them). A retained state waits once per topic: only the
# newest matters.
OFFLINE_HELD_MAX = 2000
# A graceful stop waits this long for "offline" to reach the broker (SIGTERM must finish in 2 s).
STOP_FLUSH_S = 1.0
ONLINE = "online"
OFFLINE = "offline"
_ROUTE_CACHE_MAX = 4096
_CONNECT_ERRORS = (OSError, ssl.SSLError, socket.timeout, ValueError)


class ReconnectBackoff:
    """The delays between connection attempts during one outage (see RECONNECT_* above).

    Args:
        clock: monotonic seconds; injectable for tests.
        jitter: returns a number in [0, 1); injectable for tests.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 jitter: Callable[[], float] = random.random) -> None:
        self._clock = clock
        self._jitter = jitter
        self._since: float | None = None
        self._failures = 0

    def reset(self) -> None:
        """The broker accepted us: the next outage starts afresh."""
        self._since = None
        self._failures = 0

    def next_delay(self) -> float:
        """How long to wait before the next attempt (the outage starts at the first call)."""
        now = self._clock()
        if self._since is None:
            self._since = now
        young = now - self._since < RECONNECT_YOUNG_FOR_S
        cap = RECONNECT_YOUNG_MAX_S if young else RECONNECT_MAX_S
        delay = min(cap, RECONNECT_FIRST_S * 2 ** min(self._failures, 16))
        self._failures += 1
        return delay * (0.5 + 0.5 * self._jitter())


class Topics:
    """Every canonical topic of one site: ``<root>/<site>/...``."""

    def __init__(self, root: str, site: str) -> None:
        self.root = root
        self.site = site
        self.prefix = f"{root}/{site}"

    def daemon_availability(self) -> str:
        """Retained online/offline of the daemon (its LWT)."""
        return f"{self.prefix}/daemon/availability"

    def bridge_availability(self) -> str:
        """Retained online/offline of `gridedge bridge` (its LWT)."""
        return f"{self.prefix}/bridge/availability"

    def post_telemetry(self, post: str) -> str:
        """Canonical telemetry of a post (bridge, DIY posts)."""
        return f"{self.prefix}/posts/{post}/telemetry"

    def post_availability(self, post: str) -> str:
        """Retained online/offline of a post."""
        return f"{self.prefix}/posts/{post}/availability"

    def post_cmd(self, post: str) -> str:
        """Commands to a canonical post."""
        return f"{self.prefix}/posts/{post}/cmd"

    def post_state(self, post: str) -> str:
        """The daemon's retained view of a post."""
        return f"{self.prefix}/posts/{post}/state"

    def post_reset(self, post: str) -> str:
        """Staff reset of a latched port of a post."""
        return f"{self.prefix}/posts/{post}/reset"

    def speaker_cmd(self, speaker: str) -> str:
        """Commands to a canonical speaker."""
        return f"{self.prefix}/speakers/{speaker}/cmd"

    def speaker_status(self, speaker: str) -> str:
        """Play status reported by a canonical speaker."""
        return f"{self.prefix}/speakers/{speaker}/status"

    def speaker_availability(self, speaker: str) -> str:
        """Retained online/offline of a speaker."""
        return f"{self.prefix}/speakers/{speaker}/availability"

    def speaker_state(self, speaker: str) -> str:
        """The daemon's retained view of a speaker: online, now playing, queue (JSON)."""
        return f"{self.prefix}/speakers/{speaker}/state"

    @staticmethod
    def homeassistant_config(prefix: str, component: str, node_id: str, object_id: str) -> str:
        """Home Assistant discovery config of one entity (outside the site's prefix)."""
        return f"{prefix}/{component}/{node_id}/{object_id}/config"

    @staticmethod
    def homeassistant_status(prefix: str) -> str:
        """Home Assistant's birth/will topic (``online`` when HA (re)starts)."""
        return f"{prefix}/status"

    def alert(self, alert_id: str) -> str:
        """Retained record of one alert."""
        return f"{self.prefix}/alerts/{alert_id}"

    def alert_ack(self, alert_id: str = "+") -> str:
        """Acknowledgements of an alert (``+`` = every alert)."""
        return f"{self.prefix}/alerts/{alert_id}/ack"

    def announce(self) -> str:
        """Ad-hoc announcements from authorised clients."""
        return f"{self.prefix}/announce"

    def district_announce(self) -> str:
        """District announcements as the street office's broker carries them; the site's bridge
        delivers them to :meth:`announce` (see ``edge/district/uplink.py``)."""
        return f"{self.prefix}/district/announce"

    def events(self) -> str:
        """The audit stream."""
        return f"{self.prefix}/events"

    def sim_post_fault(self, post: str = "+") -> str:
        """Simulator only: JSON faults injected into a running virtual post (``+`` = any)."""
        return f"{self.prefix}/sim/posts/{post}/fault"

    def sim_speaker_control(self, speaker: str = "+") -> str:
        """Simulator only: ``offline``/``online`` switches a virtual speaker (``+`` = any)."""
        return f"{self.prefix}/sim/speakers/{speaker}/control"

    def all(self) -> str:
        """Filter matching every canonical topic of the site."""
        return f"{self.prefix}/#"

    def render(self, template: str, **values: object) -> str:
        """Fill a profile's topic template; ``{root}`` and ``{site}`` are known here."""
        return template.format(root=self.root, site=self.site, **values)


def paho_client(config: MqttConfig, client_id: str, *,
                kind: type[paho.Client] = paho.Client) -> paho.Client:
    """A paho client (of class ``kind``) with the protocol, credentials and TLS of ``config``."""
    v5 = config.protocol is MqttProtocol.V5
    client = kind(CallbackAPIVersion.VERSION2, client_id=client_id,
                  protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
                  clean_session=None if v5 else True)
    if config.username:
        client.username_pw_set(config.username, config.password or None)
    tls = config.tls
    if tls.enabled:
        client.tls_set(ca_certs=str(tls.ca_file) if tls.ca_file else None,
                       certfile=str(tls.cert_file) if tls.cert_file else None,
                       keyfile=str(tls.key_file) if tls.key_file else None,
                       cert_reqs=ssl.CERT_REQUIRED)
        client.tls_insecure_set(tls.insecure)
    return client


class BufferedReadClient(paho.Client):
    """paho's client reading its socket in large blocks (for :class:`MqttClient` only).

    paho reads each packet with three or four ``recv`` calls (type byte, each length byte,
    body); here one ``recv`` of READ_BYTES feeds many packets. Bytes can then wait in this
    buffer while the socket itself is no longer readable, so whoever drives the client must keep
    calling ``loop_read()`` while :meth:`has_buffered` says so: :class:`MqttClient` does; paho's
    own ``loop_start()``/``loop_forever()`` would not, and must not be used with this class.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """As paho's client, with an empty read buffer."""
        super().__init__(*args, **kwargs)
        self._read_buffer = b""
        self._read_at = 0
        self.socket_reads = 0  # recv calls that returned data (a burst needs few)
        # (topic, payload, retain, qos) of a plain PUBLISH, handed over without paho's message
        # object; None = paho's own path (on_message) for every PUBLISH.
        self.publish_sink: Callable[[str, bytes, bool, int], None] | None = None

    def _handle_publish(self) -> MQTTErrorCode:
        # paho builds an MQTTMessage and, under MQTT 5, a Properties object for every PUBLISH
        # (about 13 us each: its constructor fills two tables of every property), copies the
        # payload twice and decodes the topic twice: a third of the daemon's cost per telemetry
        # message (bench/ingest.py: 80 -> 54 us of CPU per message). A PUBLISH with QoS 0 or 1
        # and no properties (what devices and our own daemon send) is read here in one pass;
        # anything else (properties, QoS 2, manual acks, a topic that is not UTF-8) goes
        # through paho unchanged.
        deliver = self.publish_sink
        header = self._in_packet["command"]
        qos = (header & 0x06) >> 1
        if deliver is None or qos == 2 or self._manual_ack:
            return super()._handle_publish()
        packet = self._in_packet["packet"]
        end = 2 + ((packet[0] << 8) | packet[1]) if len(packet) >= 2 else 0
        mid = 0
        if qos:
            if len(packet) < end + 2:
                return super()._handle_publish()
            mid = (packet[end] << 8) | packet[end + 1]
        body = end + 2 * (qos > 0)
        if self._protocol == paho.MQTTv5:
            if len(packet) <= body or packet[body] != 0:
                return super()._handle_publish()  # properties (or a malformed packet)
            body += 1
        if end <= 2 or len(packet) < body:
            return super()._handle_publish()  # an empty topic is paho's to refuse or alias
        try:
            topic = packet[2:end].decode()
        except UnicodeDecodeError:
            return super()._handle_publish()
        deliver(topic, bytes(memoryview(packet)[body:]), bool(header & 0x01), qos)
        if qos:
            return self._send_puback(mid)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def has_buffered(self) -> bool:
        """True while bytes read from the socket wait to be parsed."""
        return self._read_at < len(self._read_buffer)

    def _sock_recv(self, bufsize: int) -> bytes:
        # paho's parser asks for exactly what it needs next; it copes with shorter answers.
        if self._read_at >= len(self._read_buffer):
            data = super()._sock_recv(READ_BYTES)  # paho's own errors: BlockingIOError, OSError
            if not data:
                return data  # the broker closed the connection
            self._read_buffer, self._read_at = data, 0
            self.socket_reads += 1
        start = self._read_at
        self._read_at = min(start + bufsize, len(self._read_buffer))
        return self._read_buffer[start:self._read_at]

    def _sock_close(self) -> None:
        # Bytes of a closed connection must never be parsed as the start of the next one.
        self._read_buffer, self._read_at = b"", 0
        super()._sock_close()


class Message(NamedTuple):
    """One received MQTT message (a tuple: built for every message, it must be cheap)."""

    topic: str
    payload: bytes
    retain: bool
    qos: int
    received_at: float  # epoch seconds when it was read from the socket


Handler = Callable[[Message], None]


@dataclass(frozen=True, slots=True)
class _Route:
    topic_filter: str
    handler: Handler
    qos: int
    command: bool


class MqttClient:
    """The single MQTT connection of a process (daemon, bridge, simulator or a CLI command).

    Args:
        config: broker settings.
        topics: canonical topics of the site.
        client_id: MQTT client id; defaults to the config's or ``gridedge-<site>``.
        availability_topic: where online/offline (LWT) goes; the daemon's by default, None = none.
    """

    def __init__(self, config: MqttConfig, topics: Topics, *, client_id: str | None = None,
                 availability_topic: str | None = "") -> None:
        self.config = config
        self.topics = topics
        self.client_id = client_id or config.client_id or f"gridedge-{topics.site}"
        self.availability_topic = (topics.daemon_availability() if availability_topic == ""
                                   else availability_topic)
        # The broker's address, then its cluster's other nodes (config.fallback): a node that
        # cannot be reached passes the turn to the next one.
        self._addresses = config.addresses()
        self._at = 0
        self._routes: list[_Route] = []
        self._exact: dict[str, list[_Route]] = {}
        self._wild: list[_Route] = []
        self._cache: dict[str, tuple[_Route, ...]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._client: BufferedReadClient | None = None
        self._sock: socket.socket | None = None
        self._connected = False
        self._stopping = False
        self._problems_logged: set[str] = set()  # this outage's, each logged once
        self._connected_event: asyncio.Event | None = None
        self._session_over: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # Publishes made before start() (events of components starting up) wait here.
        self._early: list[tuple[str, str | bytes, int, bool]] = []
        self._bulk: deque[tuple[str, str | bytes, int, bool]] = deque()
        self._bulk_scheduled = False
        # Droppable publishes made while disconnected (see OFFLINE_HELD_MAX).
        self._held: OrderedDict[object, tuple[str, str | bytes, int, bool]] = OrderedDict()
        self._held_seq = 0
        self._events_topic = topics.events()
        self.stats = {"received": 0, "ignored_retained_commands": 0, "handler_errors": 0,
                      "connects": 0, "offline_held": 0, "offline_dropped": 0}

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Begin connecting in the background; reconnects by itself until :meth:`stop`."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._connected_event = asyncio.Event()
        client = paho_client(self.config, self.client_id, kind=BufferedReadClient)
        if self.availability_topic:
            client.will_set(self.availability_topic, OFFLINE, qos=1, retain=True)
        # Never drop our own publishes while offline; bursts are bounded by their producers.
        client.max_queued_messages_set(0)
        client.max_inflight_messages_set(100)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.publish_sink = self._deliver
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_socket_register_write
        client.on_socket_unregister_write = self._on_socket_unregister_write
        self._client = client
        for topic, payload, qos, retain in self._early:
            # paho keeps QoS >= 1 messages until the connection is up.
            client.publish(topic, payload, qos=max(qos, 1), retain=retain)
        self._early.clear()
        logger.info("connecting to MQTT broker %s as %s", self.address, self.client_id)
        self._tasks = [asyncio.create_task(self._supervise(), name=f"mqtt-{self.client_id}"),
                       asyncio.create_task(self._misc(), name=f"mqtt-misc-{self.client_id}")]

    async def stop(self) -> None:
        """Publish ``offline`` (retained), disconnect cleanly and release the socket."""
        client = self._client
        if client is None:
            return
        self._stopping = True
        if self._connected and self.availability_topic:
            info = client.publish(self.availability_topic, OFFLINE, qos=1, retain=True)
            deadline = time.monotonic() + STOP_FLUSH_S
            while not info.is_published() and time.monotonic() < deadline and self._connected:
                await asyncio.sleep(0.01)
        if self._connected:
            client.disconnect()
            self._flush()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self._drop_socket()
        self._connected = False
        self._client = None
        logger.info("disconnected from MQTT broker")

    @property
    def socket_reads(self) -> int:
        """How often the socket was read since start (each read feeds many packets in a burst)."""
        return 0 if self._client is None else self._client.socket_reads

    @property
    def address(self) -> str:
        """``host:port`` of the broker node in use (or tried next)."""
        host, port = self._addresses[self._at]
        return f"{host}:{port}"

    @property
    def connected(self) -> bool:
        """True while a CONNACK with success has been received and the link is up."""
        return self._connected

    async def wait_connected(self, timeout: float | None = None) -> bool:
        """Wait until connected; False when ``timeout`` passes first."""
        assert self._connected_event is not None, "start() first"  # noqa: S101 - programming error
        try:
            await asyncio.wait_for(self._connected_event.wait(), timeout)
        except TimeoutError:
            return False
        return True

    # -- subscribe / publish ---------------------------------------------------------------------

    def subscribe(self, topic_filter: str, handler: Handler, *, qos: int = 1,
                  command: bool = False) -> None:
        """Route messages matching ``topic_filter`` to ``handler`` (called on the asyncio loop).

        Args:
            topic_filter: MQTT filter, wildcards allowed.
            handler: receives each :class:`Message`; exceptions are logged, never propagated.
            qos: subscription QoS.
            command: the topic carries commands, so a retained message there is stale and ignored.
        """
        route = _Route(topic_filter, handler, qos, command)
        self._routes.append(route)
        if "+" in topic_filter or "#" in topic_filter:
            self._wild.append(route)
        else:
            self._exact.setdefault(topic_filter, []).append(route)
        self._cache.clear()
        if self._client is not None and self._connected:
            self._client.subscribe(topic_filter, qos)

    def publish(self, topic: str, payload: str | bytes, *, qos: int = 1,  # noqa: PLR0913
                retain: bool = False, bulk: bool = False,
                droppable: bool | None = None) -> paho.MQTTMessageInfo | None:
        """Publish. While disconnected, QoS ≥ 1 messages wait until the link is back.

        Args:
            bulk: a document that may wait (a retained state): it goes out after everything
                published without ``bulk``, so a cut-off command is never queued behind it.
            droppable: the message may be dropped (oldest first, counted) when too many wait
                during an outage: states and audit events, never commands or alerts. None =
                decided by the topic (the site's ``events`` and ``*/state`` topics).

        Returns paho's message info (``is_published()`` turns true on the PUBACK), or None when
        called before start(), from another thread (then it is handed to the loop), in bulk, or
        held.
        """
        if self._client is None:
            self._early.append((topic, payload, qos, retain))
            return None
        if self._loop is not None and threading.get_ident() != self._loop_thread:
            self._on_loop(lambda: self.publish(topic, payload, qos=qos, retain=retain, bulk=bulk,
                                               droppable=droppable))
            return None
        if not self._connected and (self._is_droppable(topic) if droppable is None
                                    else droppable):
            self._hold(topic, payload, qos, retain)
            return None
        if bulk and self._loop is not None:
            self._bulk.append((topic, payload, qos, retain))
            self._schedule_bulk()
            return None
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            logger.warning("publish to %s failed: %s", topic, paho.error_string(info.rc))
        return info

    def _schedule_bulk(self) -> None:
        if not self._bulk_scheduled and self._bulk and self._loop is not None:
            self._bulk_scheduled = True
            self._loop.call_soon(self._drain_bulk)

    def _drain_bulk(self) -> None:
        """Hand one chunk of bulk publishes to paho once it has nothing else queued."""
        self._bulk_scheduled = False
        client = self._client
        if client is None or not self._bulk:
            return
        if self._connected and client.want_write():
            return  # the write path calls again once paho's queue is empty
        for _ in range(BULK_CHUNK if self._connected else len(self._bulk)):
            if not self._bulk:
                break
            topic, payload, qos, retain = self._bulk.popleft()
            if self._connected:
                client.publish(topic, payload, qos=qos, retain=retain)
            else:  # the link went while they waited: hold them like any state document
                self.publish(topic, payload, qos=qos, retain=retain)
        self._schedule_bulk()

    def _is_droppable(self, topic: str) -> bool:
        return topic == self._events_topic or (
            topic.startswith(self.topics.prefix) and topic.endswith("/state"))

    def _hold(self, topic: str, payload: str | bytes, qos: int, retain: bool) -> None:
        self.stats["offline_held"] += 1
        if retain:
            key: object = topic  # a newer retained state replaces the older one
            self._held.pop(key, None)
        else:
            self._held_seq += 1
            key = self._held_seq
        self._held[key] = (topic, payload, qos, retain)
        if len(self._held) > OFFLINE_HELD_MAX:
            self._held.popitem(last=False)
            if not self.stats["offline_dropped"] % OFFLINE_HELD_MAX:
                logger.warning("broker away: dropping the oldest waiting state and audit "
                               "messages (%d so far); commands and alerts are kept",
                               self.stats["offline_dropped"] + 1)
            self.stats["offline_dropped"] += 1

    def _release_held(self, client: paho.Client) -> None:
        held, self._held = self._held, OrderedDict()
        for topic, payload, qos, retain in held.values():
            client.publish(topic, payload, qos=qos, retain=retain)

    # -- connection supervision (asyncio loop) -----------------------------------------------

    async def _supervise(self) -> None:
        """Connect, wait for the session to end, reconnect with a short jittered backoff."""
        client = self._client
        assert client is not None  # noqa: S101 - started
        backoff = ReconnectBackoff()
        connected_to: tuple[str, int] | None = None  # the address paho was last pointed at
        while not self._stopping:
            self._session_over = asyncio.Event()
            was_connects = self.stats["connects"]
            address = self._addresses[self._at]
            try:
                v5 = self.config.protocol is MqttProtocol.V5
                if address != connected_to:
                    await asyncio.to_thread(
                        client.connect, *address, keepalive=self.config.keepalive_s,
                        clean_start=True if v5 else paho.MQTT_CLEAN_START_FIRST_ONLY)
                    connected_to = address
                else:
                    await asyncio.to_thread(client.reconnect)
            except _CONNECT_ERRORS as err:
                self._problem(f"cannot reach the MQTT broker {self.address} ({err}); retrying"
                              + (" with the next node" if len(self._addresses) > 1 else ""))
                self._at = (self._at + 1) % len(self._addresses)
            else:
                await self._session_over.wait()
            if self._stopping:
                return
            # A session that got as far as CONNACK ends an outage: the next one starts afresh.
            # (A node that went away is tried once more first: it may be a quick restart.)
            if self.stats["connects"] > was_connects:
                backoff.reset()
            await asyncio.sleep(backoff.next_delay())

    async def _misc(self) -> None:
        while True:
            await asyncio.sleep(MISC_INTERVAL_S)
            if self._client is not None and self._sock is not None:
                self._client.loop_misc()

    def _problem(self, text: str) -> None:
        # Log a broken state once, not at every retry.
        if text not in self._problems_logged:
            logger.error("%s", text)
            self._problems_logged.add(text)

    # -- socket plumbing (paho's external-loop callbacks) ----------------------------------------

    def _on_socket_open(self, _client: paho.Client, _userdata: Any, sock: socket.socket) -> None:
        def attach() -> None:
            self._sock = sock
            assert self._loop is not None  # noqa: S101
            self._loop.add_reader(sock, self._read)

        self._in_loop(attach)

    def _on_socket_close(self, _client: paho.Client, _userdata: Any, sock: socket.socket) -> None:
        def detach() -> None:
            assert self._loop is not None  # noqa: S101
            self._loop.remove_reader(sock)
            self._loop.remove_writer(sock)
            if self._sock is sock:
                self._sock = None

        self._in_loop(detach)

    def _on_socket_register_write(self, _client: paho.Client, _userdata: Any,
                                  sock: socket.socket) -> None:
        self._in_loop(lambda: self._loop.add_writer(sock, self._write))  # type: ignore[union-attr]

    def _on_socket_unregister_write(self, _client: paho.Client, _userdata: Any,
                                    sock: socket.socket) -> None:
        self._in_loop(lambda: self._loop.remove_writer(sock))  # type: ignore[union-attr]

    def _read(self) -> None:
        client = self._client
        for _ in range(READ_ROUNDS):
            for _ in range(READ_CHUNK):
                if client is None or self._sock is None:
                    return
                client.loop_read()  # one packet (paho reads more only with QoS 2 in flight)
                if not client.has_buffered():
                    break
            # Outside paho's callbacks, so writing here is safe (inside them it would deadlock).
            if self._sock is not None and client.want_write():
                client.loop_write()
            if self._bulk and not client.want_write():
                self._schedule_bulk()
            sock = self._sock
            # TLS may hold decrypted bytes the socket no longer signals: keep reading them.
            if not client.has_buffered() and not (isinstance(sock, ssl.SSLSocket)
                                                  and sock.pending()):
                return  # the socket says when there is more
        # A long burst: let the loop run its other callbacks (timers, a cut-off deadline), then
        # go on with what is buffered, which the socket will not signal again.
        if self._loop is not None:
            self._loop.call_soon(self._read)

    def _write(self) -> None:
        if self._client is not None:
            self._client.loop_write()
            if self._bulk and not self._client.want_write():
                self._schedule_bulk()

    def _flush(self) -> None:
        """Write what paho has queued (the DISCONNECT on stop) before the socket goes."""
        client = self._client
        for _ in range(100):
            if client is None or self._sock is None or not client.want_write():
                return
            client.loop_write()

    def _drop_socket(self) -> None:
        if self._sock is not None and self._loop is not None:
            self._loop.remove_reader(self._sock)
            self._loop.remove_writer(self._sock)
            self._sock = None

    def _in_loop(self, callback: Callable[[], object]) -> None:
        if self._loop is None:
            return
        if threading.get_ident() == self._loop_thread:
            callback()
        else:
            self._on_loop(callback)

    def _on_loop(self, callback: Callable[[], object]) -> bool:
        """Run ``callback`` on the asyncio loop from another thread; False once the loop is gone."""
        if self._loop is None:
            return False
        try:
            self._loop.call_soon_threadsafe(callback)
        except RuntimeError:  # the loop closed while a worker thread still reported
            return False
        return True

    # -- paho callbacks ------------------------------------------------------------------------

    def _on_connect(self, client: paho.Client, _userdata: Any, _flags: Any,
                    reason: ReasonCode, _props: Properties | None) -> None:
        if reason.is_failure:
            # A refused CONNACK is never "connected"; the broker closes, and we retry later.
            self._problem(f"MQTT broker {self.address} refused the connection: "
                          f"{reason.getName()}")
            self._connected = False
            return
        self._problems_logged.clear()
        self._connected = True
        self.stats["connects"] += 1
        logger.info("connected to MQTT broker %s", self.address)
        if self.availability_topic:
            client.publish(self.availability_topic, ONLINE, qos=1, retain=True)
        filters: dict[str, int] = {}
        for route in self._routes:
            filters[route.topic_filter] = max(route.qos, filters.get(route.topic_filter, 0))
        if filters:
            client.subscribe([(f, q) for f, q in filters.items()])
        self._release_held(client)
        if self._connected_event is not None:
            self._in_loop(self._connected_event.set)

    def _on_disconnect(self, _client: paho.Client, _userdata: Any, _flags: Any,
                       reason: ReasonCode, _props: Properties | None) -> None:
        was_connected = self._connected
        self._connected = False
        if self._connected_event is not None:
            self._in_loop(self._connected_event.clear)
        if self._session_over is not None:
            self._in_loop(self._session_over.set)
        if was_connected and not self._stopping:
            logger.warning("lost the MQTT broker %s (%s); reconnecting", self.address,
                           reason.getName())

    def _on_message(self, _client: paho.Client, _userdata: Any, msg: paho.MQTTMessage) -> None:
        # paho's own path: a PUBLISH with properties or QoS 2 (BufferedReadClient._handle_publish)
        self._deliver(msg.topic, msg.payload, msg.retain, msg.qos)

    def _deliver(self, topic: str, payload: bytes, retain: bool, qos: int) -> None:
        self.stats["received"] += 1
        routes = self._routes_for(topic)
        if not routes:
            return
        message = Message(topic, payload, retain, qos, time.time())
        for route in routes:
            if route.command and message.retain:
                self._clear_retained_command(message)
                continue
            if route.command and not message.payload:
                continue  # the notice of a cleared retained command (ours), never a command
            try:
                route.handler(message)
            except Exception:
                self.stats["handler_errors"] += 1
                logger.exception("handler for %s failed on a message", route.topic_filter)

    def _clear_retained_command(self, message: Message) -> None:
        # A command kept by the broker would be replayed to every device at each reconnect (a
        # retained "play" or "port_on" is a known attack on MQTT deployments): ignore it, and
        # remove it from the broker. An empty payload is the broker's own "cleared" notice.
        if not message.payload:
            return
        self.stats["ignored_retained_commands"] += 1
        logger.warning("a retained message was left on command topic %s; ignored it and "
                       "cleared it from the broker", message.topic)
        if self._client is not None:
            self._client.publish(message.topic, b"", qos=1, retain=True)

    def guard_commands(self, topic_filter: str) -> None:
        """Watch a command topic this process sends on, so a retained message there is cleared.

        Retained messages arrive on every (re)connect; each is counted, logged and removed.
        """
        self.subscribe(topic_filter, _ignore, command=True)

    def _routes_for(self, topic: str) -> tuple[_Route, ...]:
        found = self._cache.get(topic)
        if found is None:
            found = tuple(self._exact.get(topic, ())) + tuple(
                r for r in self._wild if paho.topic_matches_sub(r.topic_filter, topic))
            if len(self._cache) >= _ROUTE_CACHE_MAX:
                self._cache.clear()
            self._cache[topic] = found
        return found


def _ignore(_message: Message) -> None:
    """Handler of a guarded command topic: our own commands come back here; nothing to do."""
