"""Virtual cloud speakers that speak real device protocols (gridedge-speaker, tasmota-i2s, openluat-tts).

Each virtual speaker is its own MQTT client with its own will (LWT), like the device. On a play it
downloads the clip URL, checks the bytes against the sha256 (the command's, or the hash in the
URL's name for Tasmota), decodes it with the imageio-ffmpeg ffmpeg to learn its real duration,
and "plays" for that long. A stop or a new play interrupts the current one. Text-to-speech
speakers "speak" for a duration estimated from the text. A speaker goes offline and back on
request: in process (:meth:`SpeakerSimulator.set_online`) or with ``offline``/``online`` on
``<root>/<site>/sim/speakers/<id>/control``. Everything played is kept in ``plays`` for tests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import logging
import time
from typing import TYPE_CHECKING

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from edge.mqtt import Topics
from edge.sim.speaker_device import (
    SHA_IN_URL,
    SimPlay,
    VirtualSpeaker,
    decode_duration,
    download,
    volume_of,
)
from edge.speakers.const import TTS_SECONDS_PER_CHAR, TTS_START_S

if TYPE_CHECKING:
    from edge.config import GridedgeConfig, MqttConfig
    from edge.profiles import Profile, ProfileRegistry

__all__ = ["NAME", "SimPlay", "SpeakerSimulator", "VirtualSpeaker", "add_arguments", "demo_part",
           "simulate", "simulator_for"]

logger = logging.getLogger(__name__)

NAME = "speakers"  # how `gridedge simulate --only` names this simulator

class SpeakerSimulator:
    """A set of virtual speakers on one broker.

    Args:
        mqtt: broker settings (host, port, credentials).
        topics: canonical topics of the site.
        speakers: speaker id → (profile, device topic name).
        tts_seconds_per_char: speaking rate of the text-to-speech speakers.
    """

    def __init__(self, mqtt: MqttConfig, topics: Topics, speakers: dict[str, tuple[Profile, str]],
                 *, tts_seconds_per_char: float = TTS_SECONDS_PER_CHAR) -> None:
        self.mqtt = mqtt
        self.topics = topics
        self.speakers = {sid: VirtualSpeaker(sid, profile, device, topics, tts_seconds_per_char)
                         for sid, (profile, device) in speakers.items()}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._control: paho.Client | None = None

    @property
    def plays(self) -> list[SimPlay]:
        """Every play of every virtual speaker, in arrival order."""
        return sorted((p for s in self.speakers.values() for p in s.plays),
                      key=lambda p: p.received)

    async def start(self) -> None:
        """Connect every speaker (online) and the control listener."""
        self._loop = asyncio.get_running_loop()
        for speaker in self.speakers.values():
            await self._connect(speaker)
        control = self._client(f"gridedge-sim-{self.topics.site}-speaker-control")
        control.on_connect = lambda c, *_: c.subscribe(self.topics.sim_speaker_control(), 1)
        control.on_message = self._control_message
        control.connect_async(self.mqtt.host, self.mqtt.port)
        control.loop_start()
        self._control = control

    async def stop(self) -> None:
        """Disconnect everything (devices as if unplugged: their wills fire)."""
        for speaker in self.speakers.values():
            speaker.online = False
            self._interrupt(speaker, "offline")
            await self._disconnect(speaker, clean=False)
        if self._control is not None:
            self._control.disconnect()
            await asyncio.to_thread(self._control.loop_stop)
            self._control = None

    async def set_online(self, speaker_id: str, online: bool) -> None:
        """Take a virtual speaker off the network (its will says offline) or back on."""
        speaker = self.speakers[speaker_id]
        if online and not speaker.online:
            speaker.online = True
            await self._connect(speaker)
        elif not online and speaker.online:
            speaker.online = False  # unplugged: the current play ends without a report
            self._interrupt(speaker, "offline")
            await self._disconnect(speaker, clean=False)

    # -- connections ---------------------------------------------------------------------------

    def _client(self, client_id: str) -> paho.Client:
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        if self.mqtt.username:
            client.username_pw_set(self.mqtt.username, self.mqtt.password or None)
        return client

    async def _connect(self, speaker: VirtualSpeaker) -> None:
        topic, online, offline = speaker.availability
        client = self._client(f"gridedge-sim-{self.topics.site}-{speaker.id}")
        client.will_set(topic, offline, qos=1, retain=True)

        def on_connect(c: paho.Client, *_: object) -> None:
            c.subscribe([(t, 1) for t in speaker.command_topics])
            c.publish(topic, online, qos=1, retain=True)

        def on_message(_c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
            if msg.retain or self._loop is None:
                return  # a retained command is stale
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._command, speaker, msg.topic,
                                                bytes(msg.payload), time.time())

        client.on_connect = on_connect
        client.on_message = on_message
        client.connect_async(self.mqtt.host, self.mqtt.port, keepalive=5)
        client.loop_start()
        speaker.client = client

    async def _disconnect(self, speaker: VirtualSpeaker, *, clean: bool) -> None:
        client, speaker.client = speaker.client, None
        if client is None:
            return
        if not clean:
            # Publish the will ourselves: paho has no way to drop the socket without DISCONNECT.
            topic, _online, offline = speaker.availability
            client.publish(topic, offline, qos=1, retain=True).wait_for_publish(2)
        client.disconnect()
        await asyncio.to_thread(client.loop_stop)

    def _control_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        if not paho.topic_matches_sub(self.topics.sim_speaker_control(), msg.topic):
            return  # amqtt (the demo broker) has been seen delivering retained messages astray
        parts = msg.topic.split("/")
        speaker_id, word = parts[-2], msg.payload.decode("utf-8", "replace").strip()
        if speaker_id not in self.speakers or word not in ("online", "offline") or msg.retain:
            logger.warning("speaker simulator: ignored control %r on %s", word, msg.topic)
            return
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self.set_online(speaker_id, word == "online"),
                                             self._loop)

    # -- device behaviour (asyncio loop) -------------------------------------------------------

    def _command(self, speaker: VirtualSpeaker, topic: str, payload: bytes, at: float) -> None:
        if not speaker.online:
            return
        text = payload.decode("utf-8", "replace")
        if speaker.protocol == "tasmota":
            self._tasmota(speaker, topic.rsplit("/", 1)[-1].lower(), text.strip(), at)
            return
        try:
            data = json.loads(text)
        except ValueError:
            logger.warning("virtual speaker %s: not JSON: %r", speaker.id, text[:80])
            return
        if not isinstance(data, dict):
            return
        if speaker.protocol == "gridedge":
            action, cid = data.get("action"), str(data.get("id", ""))
            if action == "play":
                speaker.volume = volume_of(data, speaker.volume)
                self._start(speaker, cid, str(data.get("url", "")), at, sha=data.get("sha256"))
            elif action == "stop":
                self._interrupt(speaker, "interrupted")
            elif action == "volume":
                speaker.volume = volume_of(data, speaker.volume)
        else:
            action, cid = data.get("cmd"), str(data.get("msg_id", ""))
            if action == "play":
                speaker.volume = volume_of(data, speaker.volume)
                self._start(speaker, cid, str(data.get("tts", "")), at, tts=True)
            elif action == "stop":
                self._interrupt(speaker, "interrupted")
            elif action == "volume":
                speaker.volume = volume_of(data, speaker.volume)

    def _tasmota(self, speaker: VirtualSpeaker, command: str, value: str, at: float) -> None:
        if command == "i2sgain":
            speaker.volume = int(value) if value.isdigit() else speaker.volume
            speaker.result("I2SGain", speaker.volume)
        elif command == "i2sstop" or (command == "i2swr" and not value):
            self._interrupt(speaker, "interrupted")
            speaker.result("I2SStop" if command == "i2sstop" else "I2SWr",
                           "Done" if command == "i2sstop" else "Stopped")
        elif command == "i2swr":
            found = SHA_IN_URL.search(value)
            speaker.result("I2SWr", value)
            # Tasmota has no command id: the URL plus arrival time names the play.
            self._start(speaker, f"{value}@{at:.3f}", value, at, sha=found[1] if found else None)

    def _start(self, speaker: VirtualSpeaker, cid: str, what: str, at: float, *,
               sha: object = None, tts: bool = False) -> None:
        if cid in speaker.seen:
            logger.info("virtual speaker %s: command %s again; already played", speaker.id, cid)
            return
        speaker.seen.add(cid)
        self._interrupt(speaker, "interrupted")
        play = SimPlay(speaker.id, cid, what, at)
        speaker.plays.append(play)
        task = asyncio.create_task(self._perform(speaker, play, sha if isinstance(sha, str)
                                                 else None, tts))
        speaker.current = (play, task)

    def _interrupt(self, speaker: VirtualSpeaker, outcome: str) -> None:
        current, speaker.current = speaker.current, None
        if current is None:
            return
        play, task = current
        if play.outcome == "playing":
            play.outcome, play.ended = outcome, time.time()
            speaker.report(play.command_id, "interrupted", outcome)
        task.cancel()

    async def _perform(self, speaker: VirtualSpeaker, play: SimPlay, sha: str | None,
                       tts: bool) -> None:
        try:
            if tts:
                duration = TTS_START_S + speaker.tts_seconds_per_char * len(play.what)
            else:
                data = await asyncio.to_thread(download, play.what)
                if sha is not None and hashlib.sha256(data).hexdigest() != sha:
                    self._end(speaker, play, "failed", "sha256 mismatch")
                    return
                duration = await asyncio.to_thread(decode_duration, data)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 - a device shrugs and reports, whatever went wrong
            self._end(speaker, play, "failed", str(err)[:200])
            return
        play.duration_s, play.started = duration, time.time()
        speaker.report(play.command_id, "playing")
        await asyncio.sleep(duration)
        self._end(speaker, play, "done")

    def _end(self, speaker: VirtualSpeaker, play: SimPlay, outcome: str, detail: str = "") -> None:
        play.outcome, play.detail, play.ended = outcome, detail, time.time()
        if speaker.current is not None and speaker.current[0] is play:
            speaker.current = None
        speaker.report(play.command_id, outcome, detail)


def simulator_for(config: GridedgeConfig, profiles: ProfileRegistry, **options: float,
                  ) -> SpeakerSimulator:
    """Virtual speakers for every enabled speaker of a site config."""
    speakers = {sid: (profiles.get(s.profile), s.topic_id or sid)
                for sid, s in config.speakers.devices.items() if s.enabled}
    return SpeakerSimulator(config.mqtt, Topics(config.mqtt.topic_root, config.site.id), speakers,
                            **options)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The speaker simulator's options of ``gridedge simulate``."""
    group = parser.add_argument_group("speakers")
    group.add_argument("--speakers-offline", default="", metavar="东门,南门",
                       help="speakers (names or ids) that start offline; switch them with "
                       "'online'/'offline' on <root>/<site>/sim/speakers/<id>/control")


async def simulate(config: GridedgeConfig, profiles: ProfileRegistry, args: argparse.Namespace,
                   stop: asyncio.Event) -> None:
    """The speakers' part of ``gridedge simulate``: runs until ``stop``."""
    from edge.sim.errors import SimInputError
    from edge.speakers.announce import resolve_speakers
    from edge.speakers.errors import AnnounceError

    offline: tuple[str, ...] = ()
    if args.speakers_offline:
        try:
            offline = resolve_speakers(config, args.speakers_offline)
        except AnnounceError as err:
            raise SimInputError(err.msgid, **err.args_) from None
    simulator = simulator_for(config, profiles)
    await simulator.start()
    try:
        for speaker_id in offline:
            await simulator.set_online(speaker_id, False)
        await stop.wait()
    finally:
        await simulator.stop()


async def demo_part(config: GridedgeConfig, profiles: ProfileRegistry, stop: asyncio.Event,
                    ) -> None:
    """For ``gridedge demo`` and ``gridedge simulate``: the site's speakers, until ``stop``."""
    simulator = simulator_for(config, profiles)
    await simulator.start()
    try:
        await stop.wait()
    finally:
        await simulator.stop()
