"""``gridedge say`` end to end (a separate process), the ``announce`` topic, and ``gridedge plays``."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from edge.cli import main
from tests.broker.harness import NEEDS_MOSQUITTO, Broker
from tests.conftest import gridedge_command
from tests.edge.mqtt_probe import Probe
from tests.speakers.rig import Daemon, final, load, request, simulator, until

HANG_GUARD_S = 60


def test_say_plays_and_plays_prints_it(speaker_config: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Test that `say` plays on the named speakers, reports each in Chinese, and `plays` shows it."""
    config, profiles = load(speaker_config)
    slot = request("消防安全提示@0800", ("west_gate", "south_gate"), grace_s=3.0)

    async def scenario() -> tuple[int, str]:
        sim, daemon = simulator(config, profiles), Daemon(config, profiles)
        await sim.start()
        await daemon.start()
        try:
            await sim.set_online("south_gate", False)
            channels = daemon.fleet.channels
            await until(lambda: channels["west_gate"].online and
                        channels["south_gate"].online is False)
            # Due now, not when the test began: a slow start must not use up the grace window.
            await daemon.fleet.submit(replace(slot, due=time.time()))
            process = await asyncio.create_subprocess_exec(
                *gridedge_command(), "say", "请注意", "--speakers", "东门,北门", "--priority",
                "emergency", "-c", str(speaker_config), stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT)
            out, _ = await asyncio.wait_for(process.communicate(), HANG_GUARD_S)
            await until(final(daemon, slot.key, slot.speakers))
        finally:
            await daemon.stop()
            await sim.stop()
        return process.returncode or 0, out.decode()

    code, out = asyncio.run(scenario())
    assert code == 0, out
    assert "已受理" in out
    assert "东门：已播放（喇叭已确认）" in out
    assert "北门：已播放（喇叭已确认）" in out
    assert "Traceback" not in out

    day = datetime.now(config.site.tz).date().isoformat()
    capsys.readouterr()
    assert main(["plays", "--date", day, "-c", str(speaker_config)]) == 0
    shown = capsys.readouterr().out
    assert "播放记录" in shown
    assert "西门  已播放（按时长推断）  消防安全提示@0800" in shown
    assert "南门  未播放（错过）  消防安全提示@0800" in shown
    assert "喇叭离线，直到补播时限结束" in shown
    assert "东门  已播放（喇叭已确认）  请注意" in shown

    assert main(["plays", "--date", day, "--speaker", "南门", "--csv", "-c",
                 str(speaker_config)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["speaker"], r["result"], r["announcement"]) for r in rows] == [
        ("南门", "missed", "消防安全提示@0800")]


def test_say_refuses_an_unknown_speaker_with_a_hint(speaker_config: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Test that `say` names the speaker it does not know and suggests the closest one."""
    assert main(["say", "请注意", "--speakers", "东们", "-c", str(speaker_config)]) == 2
    assert "没有名为“东们”的喇叭；您是不是想写“东门”？" in capsys.readouterr().err


@NEEDS_MOSQUITTO
def test_announce_topic_validates_and_ignores_retained(speaker_config: Path, broker: Broker,
                                                       site_id: str) -> None:
    """Test that `announce` refuses bad payloads with a reason and ignores a retained message."""
    config, profiles = load(speaker_config)
    topic = f"gridedge/{site_id}/announce"
    probe = Probe(broker, f"gridedge/{site_id}/#")
    stale = {"id": "stale-1", "text": "旧广播", "speakers": "all"}
    probe.publish(topic, json.dumps(stale, ensure_ascii=False), retain=True)

    async def scenario() -> Daemon:
        daemon = Daemon(config, profiles)
        await daemon.start()
        try:
            # The daemon's subscription is acknowledged some time after it connects.
            while not any(e.subject == "ready" for e in daemon.events):
                probe.publish(topic, '{"id": "ready"}')
                await asyncio.sleep(0.1)
            for payload in ({"id": "bad-1", "text": "请注意", "speakers": ["东们"]},
                            {"id": "bad-2", "text": "", "speakers": ["东门"]},
                            {"id": "bad-3", "text": "请注意", "speakers": ["东门"], "volume": 300},
                            {"id": "bad-4", "text": "请注意", "speaker": ["东门"]}):
                probe.publish(topic, json.dumps(payload, ensure_ascii=False))
            await until(lambda: sum(e.kind == "announce.rejected" and e.subject.startswith("bad")
                                    for e in daemon.events) == 4)
            await asyncio.sleep(0.5)
        finally:
            await daemon.stop()
        return daemon

    daemon = asyncio.run(scenario())
    probe.publish(topic, "", retain=True)
    probe.close()
    rejected = {e.subject: e.detail["reason"] for e in daemon.events
                if e.kind == "announce.rejected" and e.subject != "ready"}
    assert rejected == {
        "bad-1": "there is no speaker '{name}'; did you mean '{hint}'?",
        "bad-2": "'text' must be the words to say",
        "bad-3": "'{field}' must be a whole number from {low} to {high}",
        "bad-4": "unknown field '{field}'; allowed: {allowed}"}
    assert not any(e.kind == "announce.accepted" for e in daemon.events)
    assert daemon.app.mqtt.stats["ignored_retained_commands"] == 1
