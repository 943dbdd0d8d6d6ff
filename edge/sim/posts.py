"""Virtual charging posts for ``gridedge simulate`` and ``gridedge demo``.

Each post of config.yaml becomes a :class:`~edge.sim.post.VirtualPost` speaking its profile
(gridedge-post, tasmota-energy, shelly-gen2, or one that extends them) over its own MQTT session.
Faults come from ``--fault`` flags, from :meth:`PostSimulator.inject` (tests), or as JSON on
``<root>/<site>/sim/posts/<post>/fault`` (the demo scenario, other processes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from edge.config import GridedgeConfig
from edge.i18n import N_, _
from edge.mqtt import Message, MqttClient, Topics
from edge.profiles import Profile, ProfileRegistry
from edge.sim.device import Dialect
from edge.sim.errors import FaultSpecError, UnsupportedProfileError
from edge.sim.faults import Fault, fault_from_json, parse_fault
from edge.sim.post import PostSettings, VirtualPost
from edge.sim.vendor_gridedge import GridedgePost
from edge.sim.vendor_shelly import ShellyGen2
from edge.sim.vendor_tasmota import TasmotaEnergy

__all__ = ["DIALECTS", "NAME", "PostSimulator", "SimOptions", "add_arguments", "demo_part",
           "dialect_class", "options_from_args", "run", "simulate"]

logger = logging.getLogger(__name__)

NAME = "posts"  # how `gridedge simulate --only` names this simulator
DEFAULT_INTERVAL_S = 5.0
DEMO_SPEED = 60.0  # the demo shows a three-hour charge in three minutes
# Profile id → the vendor dialect that emulates its devices; profiles extending one inherit it.
DIALECTS: dict[str, type[Dialect]] = {
    cls.profile_id: cls for cls in (GridedgePost, TasmotaEnergy, ShellyGen2)}


def dialect_class(profile: Profile, profiles: ProfileRegistry) -> type[Dialect]:
    """The dialect for a profile (following ``extends``); UnsupportedProfileError otherwise."""
    seen: Profile | None = profile
    while seen is not None:
        if seen.id in DIALECTS:
            return DIALECTS[seen.id]
        seen = profiles.get(seen.extends) if seen.extends else None
    raise UnsupportedProfileError(N_("no post simulator speaks profile '{profile}'; it knows "
                                     "{known}"), profile=profile.id, known=", ".join(DIALECTS))


@dataclass(frozen=True)
class SimOptions:
    """How the post simulator runs.

    Attributes:
        interval_s: real seconds between each post's telemetry.
        speed: time compression of charging curves and residents (1 = real time).
        seed: makes every random choice reproducible.
        posts: post ids to simulate (empty: every enabled post of config.yaml).
        faults: (post id, fault) to inject; a fault's ``after_s`` counts from the start.
    """

    interval_s: float = DEFAULT_INTERVAL_S
    speed: float = 1.0
    seed: int = 1
    posts: tuple[str, ...] = ()
    faults: tuple[tuple[str, Fault], ...] = field(default_factory=tuple)


class PostSimulator:
    """Every virtual post of a site, plus the MQTT control topic for faults.

    Args:
        config: the site's config (posts, MQTT, time zone).
        profiles: the profile registry.
        options: interval, speed, seed, which posts, faults.
    """

    def __init__(self, config: GridedgeConfig, profiles: ProfileRegistry,
                 options: SimOptions | None = None) -> None:
        self.config = config
        self.profiles = profiles
        self.options = options or SimOptions()
        self.topics = Topics(config.mqtt.topic_root, config.site.id)
        self.posts: dict[str, VirtualPost] = {}
        self.stats = {"bad_faults": 0}
        self._control: MqttClient | None = None

    def _build(self) -> None:
        wanted = self.options.posts
        unknown = [p for p in wanted if p not in self.config.posts.devices]
        if unknown:
            raise FaultSpecError(N_("there is no post '{post}' in config.yaml"), post=unknown[0])
        for post_id, post in self.config.posts.devices.items():
            if (wanted and post_id not in wanted) or (not wanted and not post.enabled):
                continue
            profile = self.profiles.get(post.profile)
            dialect = dialect_class(profile, self.profiles)(
                post_id, post.topic_id or post_id, self.topics, self.config.site.tz, post.ports)
            if isinstance(dialect, TasmotaEnergy) and self.options.interval_s < 1.0:
                dialect.milliseconds = True
            settings = PostSettings(interval_s=self.options.interval_s, speed=self.options.speed,
                                    seed=self.options.seed,
                                    client_id=f"gridedge-sim-{self.config.site.id}-{post_id}")
            self.posts[post_id] = VirtualPost(post_id, post.ports, dialect, self.config.mqtt,
                                              settings)

    async def start(self) -> None:
        """Create and connect every post, start the given faults' clocks, listen for faults."""
        self._build()
        started = time.time()
        for post_id, fault in self.options.faults:
            self.inject(post_id, fault, at=started + fault.after_s)
        self._control = MqttClient(self.config.mqtt, self.topics, availability_topic=None,
                                   client_id=f"gridedge-sim-{self.config.site.id}-posts")
        self._control.subscribe(self.topics.sim_post_fault("+"), self._on_fault, command=True)
        await self._control.start()
        for post in self.posts.values():
            await post.start()
        logger.info("simulating %d charging posts (%s), interval %.1f s, speed %.0f×",
                    len(self.posts), ", ".join(sorted({type(p.dialect).profile_id
                                                      for p in self.posts.values()})),
                    self.options.interval_s, self.options.speed)

    async def wait_connected(self, timeout: float = 10.0) -> bool:
        """Wait until every post and the control client are connected."""
        links = [p.link.wait_connected(timeout) for p in self.posts.values()]
        control = [self._control.wait_connected(timeout)] if self._control else []
        return all(await asyncio.gather(*links, *control))

    async def stop(self, *, goodbye: bool = True) -> None:
        """Disconnect every post (``goodbye``: each says offline first)."""
        await asyncio.gather(*(p.stop(goodbye=goodbye) for p in self.posts.values()))
        if self._control is not None:
            await self._control.stop()
            self._control = None

    async def __aenter__(self) -> PostSimulator:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    def post(self, post_id: str) -> VirtualPost:
        """One virtual post."""
        return self.posts[post_id]

    def inject(self, post_id: str, fault: Fault, *, at: float | None = None) -> None:
        """Give a post a fault now (or at epoch time ``at``); FaultSpecError: no such post/port."""
        if post_id not in self.posts:
            raise FaultSpecError(N_("there is no post '{post}' in config.yaml"), post=post_id)
        self.posts[post_id].inject(fault, at=at)

    def _on_fault(self, message: Message) -> None:
        post_id = message.topic.split("/")[-2]
        try:
            data: Any = json.loads(message.payload)
            for item in data if isinstance(data, list) else [data]:
                fault = fault_from_json(item, shown_as=json.dumps(item, ensure_ascii=False)[:80])
                self.inject(post_id, fault, at=time.time() + fault.after_s)
        except (ValueError, FaultSpecError) as err:
            self.stats["bad_faults"] += 1
            logger.warning("ignored a fault for post %s on %s: %s", post_id, message.topic, err)


# -- `gridedge simulate` and `gridedge demo` ----------------------------------------------------


def positive(text: str) -> float:
    """An argparse type: a number above zero."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        msg = f"must be a number above 0 (got {text})"
        raise argparse.ArgumentTypeError(msg)
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The post simulator's options of ``gridedge simulate``."""
    group = parser.add_argument_group("charging posts")
    group.add_argument("--posts", default="", metavar="P01,P02",
                       help="only these posts (default: every enabled post in config.yaml)")
    group.add_argument("--post-interval", type=positive, default=DEFAULT_INTERVAL_S, metavar="S",
                       help="seconds between each post's telemetry (default: %(default)s)")
    # Parsed in options_from_args, once the language of messages is chosen.
    group.add_argument("--fault", action="append", default=[],
                       metavar="POST[:PORT]:KIND[:k=v,...]",
                       help="inject a fault, e.g. P03:4:overload-ramp, P03:4:step:amps=12, "
                       "P03:4:pulsing:factor=3,high_s=4,low_s=2, P05:silence, P07:garbage, "
                       "P02:6:stuck-relay; after_s=N delays it (repeatable)")


def options_from_args(args: argparse.Namespace) -> SimOptions:
    """SimOptions from the parsed ``gridedge simulate`` command line; FaultSpecError if wrong."""
    posts = tuple(p.strip() for p in args.posts.split(",") if p.strip())
    return SimOptions(interval_s=args.post_interval, speed=args.speed, seed=args.seed,
                      posts=posts, faults=tuple(parse_fault(spec) for spec in args.fault))


async def run(config: GridedgeConfig, profiles: ProfileRegistry, options: SimOptions,
              stop: asyncio.Event) -> None:
    """Run the post simulator until ``stop`` is set (or the task is cancelled)."""
    simulator = PostSimulator(config, profiles, options)
    for post_id, fault in options.faults:
        if post_id not in config.posts.devices:
            raise FaultSpecError(N_("there is no post '{post}' in config.yaml"), post=post_id)
        if fault.port is not None and fault.port > config.posts.devices[post_id].ports:
            raise FaultSpecError(N_("post {post} has no port {port} (it has {count})"),
                                 post=post_id, port=fault.port,
                                 count=config.posts.devices[post_id].ports)
    try:
        await simulator.start()
        print(_("Simulating {count} charging posts against {host}:{port}.").format(
            count=len(simulator.posts), host=config.mqtt.host, port=config.mqtt.port), flush=True)
        await stop.wait()
    finally:
        await simulator.stop()


async def simulate(config: GridedgeConfig, profiles: ProfileRegistry, args: argparse.Namespace,
                   stop: asyncio.Event) -> None:
    """The posts' part of ``gridedge simulate``: runs until ``stop``; SimInputError if bad."""
    await run(config, profiles, options_from_args(args), stop)


async def demo_part(config: GridedgeConfig, profiles: ProfileRegistry,
                    stop: asyncio.Event) -> None:
    """Ten virtual posts for ``gridedge demo``, charging at DEMO_SPEED, until ``stop``."""
    await run(config, profiles, SimOptions(speed=DEMO_SPEED), stop)
