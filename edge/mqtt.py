"""The daemon's one MQTT client: LWT availability, reconnect with backoff, resubscribe, topic router.

paho-mqtt runs its network loop in its own thread. Messages are handed to the asyncio loop in
batches (one wake-up per burst, not per message) and dispatched there to the module that
subscribed, so handlers never run concurrently with the rest of the daemon. All canonical topics
are built here, by :class:`Topics`.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.config import MqttConfig, MqttProtocol

__all__ = ["Handler", "Message", "MqttClient", "Topics"]

logger = logging.getLogger(__name__)

# Reconnect backoff: paho doubles the delay per failed attempt up to the cap, reset on CONNACK.
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30
# A graceful stop waits this long for "offline" to reach the broker (SIGTERM must finish in 2 s).
STOP_FLUSH_S = 1.0
ONLINE = "online"
OFFLINE = "offline"
_ROUTE_CACHE_MAX = 4096


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

    def alert(self, alert_id: str) -> str:
        """Retained record of one alert."""
        return f"{self.prefix}/alerts/{alert_id}"

    def alert_ack(self, alert_id: str = "+") -> str:
        """Acknowledgements of an alert (``+`` = every alert)."""
        return f"{self.prefix}/alerts/{alert_id}/ack"

    def announce(self) -> str:
        """Ad-hoc announcements from authorised clients."""
        return f"{self.prefix}/announce"

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


@dataclass(frozen=True, slots=True)
class Message:
    """One received MQTT message."""

    topic: str
    payload: bytes
    retain: bool
    qos: int
    received_at: float  # epoch seconds when paho handed it over


Handler = Callable[[Message], None]


@dataclass(frozen=True, slots=True)
class _Route:
    topic_filter: str
    handler: Handler
    qos: int
    command: bool


class MqttClient:
    """The single MQTT connection of a process (daemon, bridge or simulator).

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
        self._routes: list[_Route] = []
        self._exact: dict[str, list[_Route]] = {}
        self._wild: list[_Route] = []
        self._cache: dict[str, tuple[_Route, ...]] = {}
        self._inbox: deque[paho.MQTTMessage] = deque()
        self._drain_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: paho.Client | None = None
        self._connected = False
        self._stopping = False
        self._last_refusal = ""
        self._connected_event: asyncio.Event | None = None
        # Publishes made before start() (events of components starting up) wait here.
        self._early: list[tuple[str, str | bytes, int, bool]] = []
        self.stats = {"received": 0, "ignored_retained_commands": 0, "handler_errors": 0,
                      "connects": 0}

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Begin connecting in the background; reconnects by itself until :meth:`stop`."""
        self._loop = asyncio.get_running_loop()
        self._connected_event = asyncio.Event()
        v5 = self.config.protocol is MqttProtocol.V5
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
                             clean_session=None if v5 else True)
        if self.config.username:
            client.username_pw_set(self.config.username, self.config.password or None)
        tls = self.config.tls
        if tls.enabled:
            client.tls_set(ca_certs=str(tls.ca_file) if tls.ca_file else None,
                           certfile=str(tls.cert_file) if tls.cert_file else None,
                           keyfile=str(tls.key_file) if tls.key_file else None,
                           cert_reqs=ssl.CERT_REQUIRED)
            client.tls_insecure_set(tls.insecure)
        if self.availability_topic:
            client.will_set(self.availability_topic, OFFLINE, qos=1, retain=True)
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        # Never drop our own publishes while offline; bursts are bounded by their producers.
        client.max_queued_messages_set(0)
        client.max_inflight_messages_set(100)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client
        logger.info("connecting to MQTT broker %s:%d as %s", self.config.host, self.config.port,
                    self.client_id)
        client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive_s,
                             clean_start=True if v5 else paho.MQTT_CLEAN_START_FIRST_ONLY)
        client.loop_start()
        for topic, payload, qos, retain in self._early:
            # paho keeps QoS >= 1 messages until the connection is up.
            client.publish(topic, payload, qos=max(qos, 1), retain=retain)
        self._early.clear()

    async def stop(self) -> None:
        """Publish ``offline`` (retained), disconnect cleanly and stop the network thread."""
        client = self._client
        if client is None:
            return
        self._stopping = True
        if self._connected and self.availability_topic:
            info = client.publish(self.availability_topic, OFFLINE, qos=1, retain=True)
            deadline = time.monotonic() + STOP_FLUSH_S
            while not info.is_published() and time.monotonic() < deadline and self._connected:
                await asyncio.sleep(0.01)
        client.disconnect()
        await asyncio.to_thread(client.loop_stop)
        self._connected = False
        self._client = None
        logger.info("disconnected from MQTT broker")

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

    def publish(self, topic: str, payload: str | bytes, *, qos: int = 1,
                retain: bool = False) -> paho.MQTTMessageInfo | None:
        """Publish (thread-safe). QoS ≥ 1 messages wait in paho's queue while disconnected."""
        if self._client is None:
            self._early.append((topic, payload, qos, retain))
            return None
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            logger.warning("publish to %s failed: %s", topic, paho.error_string(info.rc))
        return info

    # -- paho callbacks (network thread) -------------------------------------------------------

    def _on_connect(self, client: paho.Client, _userdata: Any, _flags: Any,
                    reason: ReasonCode, _props: Properties | None) -> None:
        if reason.is_failure:
            # A refused CONNACK is never "connected"; paho retries with backoff by itself.
            if reason.getName() != self._last_refusal:
                logger.error("MQTT broker %s:%d refused the connection: %s", self.config.host,
                             self.config.port, reason.getName())
                self._last_refusal = reason.getName()
            self._connected = False
            return
        self._last_refusal = ""
        self._connected = True
        self.stats["connects"] += 1
        logger.info("connected to MQTT broker %s:%d", self.config.host, self.config.port)
        if self.availability_topic:
            client.publish(self.availability_topic, ONLINE, qos=1, retain=True)
        filters: dict[str, int] = {}
        for route in self._routes:
            filters[route.topic_filter] = max(route.qos, filters.get(route.topic_filter, 0))
        if filters:
            client.subscribe([(f, q) for f, q in filters.items()])
        if self._loop is not None and self._connected_event is not None:
            self._loop.call_soon_threadsafe(self._connected_event.set)

    def _on_disconnect(self, _client: paho.Client, _userdata: Any, _flags: Any,
                       reason: ReasonCode, _props: Properties | None) -> None:
        was_connected = self._connected
        self._connected = False
        if self._loop is not None and self._connected_event is not None:
            self._loop.call_soon_threadsafe(self._connected_event.clear)
        if was_connected and not self._stopping:
            logger.warning("lost the MQTT broker %s:%d (%s); reconnecting", self.config.host,
                           self.config.port, reason.getName())

    def _on_message(self, _client: paho.Client, _userdata: Any, msg: paho.MQTTMessage) -> None:
        msg.timestamp = time.time()  # wall clock of arrival; paho's is monotonic
        self._inbox.append(msg)
        if not self._drain_scheduled and self._loop is not None:
            self._drain_scheduled = True
            try:
                self._loop.call_soon_threadsafe(self._drain)
            except RuntimeError:  # the loop closed while stopping
                self._drain_scheduled = False

    # -- dispatch (asyncio loop) ---------------------------------------------------------------

    def _drain(self) -> None:
        # Clear the flag before draining: a message appended meanwhile schedules another drain.
        self._drain_scheduled = False
        inbox = self._inbox
        while inbox:
            msg = inbox.popleft()
            self.stats["received"] += 1
            for route in self._routes_for(msg.topic):
                if route.command and msg.retain:
                    self.stats["ignored_retained_commands"] += 1
                    logger.warning("ignored a retained message on command topic %s", msg.topic)
                    continue
                try:
                    route.handler(Message(msg.topic, msg.payload, msg.retain, msg.qos,
                                          msg.timestamp))
                except Exception:
                    self.stats["handler_errors"] += 1
                    logger.exception("handler for %s failed on a message", route.topic_filter)

    def _routes_for(self, topic: str) -> tuple[_Route, ...]:
        found = self._cache.get(topic)
        if found is None:
            found = tuple(self._exact.get(topic, ())) + tuple(
                r for r in self._wild if paho.topic_matches_sub(r.topic_filter, topic))
            if len(self._cache) >= _ROUTE_CACHE_MAX:
                self._cache.clear()
            self._cache[topic] = found
        return found
