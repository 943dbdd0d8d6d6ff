"""A plain paho client for tests: watch topics and publish, independent of our own MqttClient."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from tests.broker.harness import Broker

__all__ = ["Probe"]


class Probe:
    """Subscribes to a filter and records (topic, payload, retain) as they arrive."""

    def __init__(self, broker: Broker, topic_filter: str | list[str] = "#") -> None:
        self.messages: list[tuple[str, str, bool]] = []
        self._cond = threading.Condition()
        self._client = paho.Client(CallbackAPIVersion.VERSION2)
        self._subscribed = threading.Event()
        self._client.on_message = self._on_message
        filters = [topic_filter] if isinstance(topic_filter, str) else topic_filter
        self._client.on_connect = lambda c, *_: c.subscribe([(f, 1) for f in filters])
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()
        # Only a subscription the broker has confirmed is sure to see what is published next.
        if not self._subscribed.wait(15):
            msg = f"the broker did not confirm the subscription to {topic_filter}"
            raise TimeoutError(msg)

    def _on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        with self._cond:
            self.messages.append((msg.topic, msg.payload.decode("utf-8", "replace"), msg.retain))
            self._cond.notify_all()

    def wait_for(self, check: Callable[[list[tuple[str, str, bool]]], bool],
                 timeout: float = 15.0) -> bool:
        """Wait until ``check(messages)`` is true (a hang guard, not a speed limit)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not check(self.messages):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def last(self, topic: str) -> str | None:
        """The newest payload seen on ``topic``."""
        with self._cond:
            found = [p for t, p, _ in self.messages if t == topic]
        return found[-1] if found else None

    def publish(self, topic: str, payload: str, *, retain: bool = False, qos: int = 1) -> None:
        """Publish and wait until the broker has it."""
        self._client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(10)

    def close(self) -> None:
        """Disconnect."""
        self._client.loop_stop()
        self._client.disconnect()
