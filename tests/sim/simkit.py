"""Helpers for the post simulator tests: a three-vendor site, decoding with the daemon's decoder."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


from edge.config import GridedgeConfig, load_config
from edge.profiles import Profile, ProfileRegistry, load_registry
from edge.profiles.codec import Binding, DecodeError, Decoded, bind, decode
from tests.broker.harness import Broker
from tests.edge.mqtt_probe import Probe

__all__ = ["FAST", "RawProbe", "SiteUnderTest", "decoded", "port_values", "sane_current",
           "site_with_three_vendors"]

FAST = 0.1  # seconds between telemetry messages in tests
# Post id → profile of the three-vendor test site.
VENDOR_POSTS = {"P01": "gridedge-post", "P02": "tasmota-energy", "P03": "shelly-gen2"}


@dataclass
class SiteUnderTest:
    """A loaded config whose P01–P03 speak the three profiles, on this test's own topics."""

    config: GridedgeConfig
    profiles: ProfileRegistry
    path: Path

    def profile(self, post: str) -> Profile:
        """The profile of a post."""
        return self.profiles.get(self.config.posts.devices[post].profile)

    def device(self, post: str) -> str:
        """The device topic name of a post."""
        return self.config.posts.devices[post].topic_id or post

    def bindings(self, post: str) -> list[Binding]:
        """The daemon's subscriptions for a post."""
        return bind(self.profile(post), self.device(post), root=self.config.mqtt.topic_root,
                    site=self.config.site.id)

    def filters(self, post: str) -> list[str]:
        """Topic filters of everything a post publishes.

        bind() turns ``stat/{device}/POWER{port}`` into ``stat/t/POWER+``, which MQTT refuses
        (``+`` must fill a whole level), so such a level is widened to ``+`` here.
        """
        return ["/".join("+" if "+" in level else level for level in b.topic_filter.split("/"))
                for b in self.bindings(post)]


def site_with_three_vendors(broker: Broker, site_id: str,
                            write_config: Callable[..., Path]) -> SiteUnderTest:
    """The real config.yaml with P02 as a Tasmota and P03 as a Shelly (unique device topics)."""
    devices: dict[str, Any] = {f"P{n:02d}": {"name": f"{n}号充电桩"} for n in range(1, 11)}
    devices["P02"].update(profile="tasmota-energy", topic_id=f"{site_id}-p02")
    devices["P03"].update(profile="shelly-gen2", topic_id=f"{site_id}/shellypro-p03")
    posts = {"defaults": {"profile": "gridedge-post", "ports": 10, "offline_after_s": 180},
             "devices": devices}
    path = write_config(broker, posts=posts)
    profiles = load_registry()
    return SiteUnderTest(load_config(path, profiles=profiles), profiles, path)


def decoded(site: SiteUnderTest, post: str, topic: str, payload: str | bytes) -> Decoded | None:
    """One message decoded as the daemon does it (DecodeError propagates)."""
    raw = payload.encode() if isinstance(payload, str) else payload
    for binding in site.bindings(post):
        out = decode(site.profile(post), binding, topic, raw, site.config.site.tz)
        if out is not None:
            return out
    return None


def port_values(site: SiteUnderTest, post: str, messages: list[tuple[str, str, bool]],
                port: int, key: str) -> list[Any]:
    """Every decodable value of one port field, in arrival order (garbage skipped)."""
    out = []
    for topic, payload, _ in messages:
        try:
            found = decoded(site, post, topic, payload)
        except DecodeError:
            continue
        if found is not None and key in found.ports.get(port, {}):
            out.append(found.ports[port][key])
    return out


def sane_current(value: Any) -> bool:
    """A current the daemon could act on: a finite number from 0 to 100 A."""
    return isinstance(value, int | float) and not isinstance(value, bool) \
        and math.isfinite(value) and 0 <= value <= 100  # noqa: PLR2004


class RawProbe(Probe):
    """A Probe on several filters that keeps each payload's bytes (garbage may not be UTF-8)."""

    def __init__(self, broker: Broker, filters: list[str]) -> None:  # noqa: D107
        self.raw: list[tuple[str, bytes]] = []  # before the first message can arrive
        super().__init__(broker, filters)

    def _on_message(self, c: Any, u: object, msg: Any) -> None:
        with self._cond:
            self.raw.append((msg.topic, bytes(msg.payload)))
        super()._on_message(c, u, msg)

    def count(self, prefix: str) -> int:
        """Messages so far on topics starting with ``prefix``."""
        with self._cond:
            return sum(1 for t, _ in self.raw if t.startswith(prefix))

    def close(self) -> None:
        """Disconnect first, so the network thread ends at once instead of after its select()."""
        self._client.disconnect()
        self._client.loop_stop()

    def since(self, index: int) -> list[tuple[str, bytes]]:
        """Raw messages from position ``index`` on."""
        with self._cond:
            return self.raw[index:]
