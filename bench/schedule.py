"""Benchmark: dispatch lateness and play integrity of the speaker fleet on a real broker.

Run: .venv/bin/python bench/schedule.py [--count 200] [--duration 200]

Four speakers of three profiles (two gridedge-speaker, one tasmota-i2s, one openluat-tts) run as
virtual speakers (edge.sim.speakers) against a real mosquitto (the test broker's config:
``set_tcp_nodelay true``, raised queue limits). ``--count`` occurrences are spread evenly over
``--duration`` seconds, round robin over the speakers with a per-speaker offset, each a short clip
(five different texts, rendered ahead through ``Fleet.prepare``). Each PlayRequest is submitted at
its due instant, as the scheduler does (the scheduler's slots are whole minutes, so it cannot
produce 200 slots in a few minutes; the fleet is what is measured).

Reported:
  * dispatch lateness = arrival of the play command at an independent subscriber on the broker
    minus the slot's instant: p50 / p99 / max, overall and per profile;
  * double plays (a speaker playing one occurrence twice, or more plays than occurrences),
    missed or failed plays, overlapping plays on one speaker: all must be 0.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
import yaml
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.app import App
from edge.config import load_config
from edge.http import create as create_http
from edge.profiles import load_registry
from edge.sim.speakers import simulator_for
from edge.speakers import PlayRequest, Priority
from edge.speakers.component import create as create_speakers
from tests.broker.harness import Broker

TEXTS = ("请注意", "注意防火", "请勿楼道充电", "垃圾分类", "请保管好财物")
SITE = "bench"
SPEAKERS = {"defaults": {"profile": "gridedge-speaker", "volume": 70},
            "devices": {"east_gate": {"name": "东门"}, "south_gate": {"name": "南门"},
                        "west_gate": {"name": "西门", "profile": "tasmota-i2s",
                                      "topic_id": "bench-west"},
                        "north_gate": {"name": "北门", "profile": "openluat-tts",
                                       "topic_id": "bench-imei"}}}
PLAY_TOPIC_ENDS = ("/cmd", "/I2SWr", "/sub/topic/tts/bench-imei")


def _config(broker: Broker, tmp: Path) -> Path:
    data = yaml.safe_load((Path(__file__).resolve().parents[1] / "config.yaml").read_text("utf-8"))
    data["site"]["id"] = SITE
    data["mqtt"] = {"host": broker.host, "port": broker.port, "protocol": "5"}
    data["storage"]["data_dir"] = str(tmp / "data")
    data["http"] = {"bind": "127.0.0.1", "port": 0}
    data["speakers"] = SPEAKERS
    data["schedules"] = {"files": []}
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


class Recorder:
    """An independent subscriber: when each play command reached the broker's subscribers."""

    def __init__(self, broker: Broker) -> None:
        self.arrivals: list[tuple[str, float, bytes]] = []
        self._lock = threading.Lock()
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-recorder")
        self._client.on_connect = lambda c, *_: c.subscribe(
            [(f"gridedge/{SITE}/speakers/+/cmd", 0), ("cmnd/bench-west/#", 0),
             ("/sub/topic/tts/bench-imei", 0)])
        self._client.on_message = self._on_message
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()

    def _on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        now = time.time()
        with self._lock:
            self.arrivals.append((msg.topic, now, bytes(msg.payload)))

    def plays(self) -> dict[str, list[float]]:
        """Speaker id → arrival times of its play commands, in order."""
        out: dict[str, list[float]] = {s: [] for s in SPEAKERS["devices"]}
        for topic, at, payload in self.arrivals:
            if topic.endswith("/I2SWr"):
                out["west_gate"].append(at)
            elif topic == "/sub/topic/tts/bench-imei":
                if json.loads(payload).get("cmd") == "play":
                    out["north_gate"].append(at)
            elif topic.endswith("/cmd") and json.loads(payload).get("action") == "play":
                out[topic.split("/")[-2]].append(at)
        return out

    def close(self) -> None:
        """Disconnect."""
        self._client.loop_stop()
        self._client.disconnect()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _run(config_path: Path, broker: Broker, count: int, duration: float) -> dict:
    profiles = load_registry()
    config = load_config(config_path, profiles=profiles)
    sim = simulator_for(config, profiles)
    app = App(config, profiles)
    await sim.start()
    await app.store.start()
    http = create_http(app)
    await http.start()
    component = create_speakers(app)
    await component.start()
    await app.mqtt.start()
    await app.mqtt.wait_connected(10)
    recorder = Recorder(broker)
    fleet = component.fleet
    speakers = list(SPEAKERS["devices"])
    per_speaker = count // len(speakers)
    gap = duration / per_speaker
    start = time.time() + 8.0  # time to render the clips ahead
    requests = []
    for i in range(per_speaker):
        for j, speaker in enumerate(speakers):
            due = start + i * gap + j * gap / len(speakers)
            requests.append(PlayRequest(key=f"bench-{speaker}-{i}", announcement=f"bench {i}",
                                        speakers=(speaker,), due=due, grace_s=60.0,
                                        priority=Priority.ROUTINE, text=TEXTS[i % len(TEXTS)]))
    for request in requests[:len(TEXTS) * len(speakers)]:
        await fleet.prepare(request)

    async def at_due(request: PlayRequest) -> None:
        await asyncio.sleep(max(0.0, request.due - time.time()))
        await fleet.submit(request)

    print(f"{len(requests)} occurrences over {duration:.0f} s, one every {gap:.2f} s per speaker",
          flush=True)
    await asyncio.gather(*(at_due(r) for r in requests))
    deadline = time.time() + 30
    while time.time() < deadline:
        rows = app.store.query("SELECT state FROM plays WHERE state IN ('queued','dispatched')")
        if not rows:
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(1.0)
    rows = [dict(r) for r in app.store.query("SELECT * FROM plays ORDER BY dispatched_at")]
    arrivals = recorder.plays()
    recorder.close()
    await app.mqtt.stop()
    await component.stop()
    await http.stop()
    await app.store.stop()
    await sim.stop()
    return {"rows": rows, "arrivals": arrivals, "sim": sim, "requests": requests}


def _report(result: dict, count: int) -> int:
    rows, arrivals, sim = result["rows"], result["arrivals"], result["sim"]
    lateness: dict[str, list[float]] = {}
    profile_of = {"east_gate": "gridedge-speaker", "south_gate": "gridedge-speaker",
                  "west_gate": "tasmota-i2s", "north_gate": "openluat-tts"}
    unmatched = 0
    for speaker, times in arrivals.items():
        dues = sorted(r["due"] for r in rows if r["speaker"] == speaker and r["dispatched_at"])
        if len(dues) != len(times):
            unmatched += abs(len(dues) - len(times))
        for due, at in zip(dues, times, strict=False):
            lateness.setdefault(profile_of[speaker], []).append(at - due)
    states: dict[str, int] = {}
    for r in rows:
        key = r["state"] + (f"/{r['confirmation']}" if r["confirmation"] else "")
        states[key] = states.get(key, 0) + 1
    doubles = overlaps = 0
    for speaker, virtual in sim.speakers.items():
        played = [p for p in virtual.plays if p.outcome in ("done", "playing", "interrupted")]
        occurrences = sum(1 for r in rows if r["speaker"] == speaker and r["dispatched_at"])
        doubles += max(0, len(played) - occurrences)
        ids = [p.command_id for p in virtual.plays]
        doubles += len(ids) - len(set(ids))
        ordered = sorted((p for p in virtual.plays if p.started), key=lambda p: p.started)
        overlaps += sum(1 for a, b in itertools.pairwise(ordered)
                        if a.ended is None or b.started < a.ended)
    missed = sum(1 for r in rows if r["state"] != "played")
    interrupted = sum(1 for p in sim.plays if p.outcome != "done")
    everything = [x for v in lateness.values() for x in v]
    print(f"\nplay log: {len(rows)} rows of {count} occurrences: {states}")
    print(f"{'profile':<18}{'n':>5}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for name, values in [*sorted(lateness.items()), ("all", everything)]:
        print(f"{name:<18}{len(values):>5}{_percentile(values, 0.5) * 1000:>10.1f}"
              f"{_percentile(values, 0.99) * 1000:>10.1f}{max(values) * 1000:>10.1f}")
    print(f"double plays: {doubles}   missed/failed: {missed}   overlapping plays: {overlaps}   "
          f"plays not completed on the device: {interrupted}   unmatched commands: {unmatched}")
    return 0 if doubles == missed == overlaps == unmatched == 0 and len(rows) == count else 1


def main() -> int:
    """Run the benchmark and print the figures; exit 1 when a play was doubled or missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="occurrences (default 200)")
    parser.add_argument("--duration", type=float, default=200.0, help="seconds (default 200)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gridedge-bench-") as tmp:
        broker = Broker(Path(tmp) / "broker")
        broker.workdir.mkdir()
        broker.start()
        try:
            result = asyncio.run(_run(_config(broker, Path(tmp)), broker, args.count,
                                      args.duration))
        finally:
            broker.stop()
    return _report(result, args.count - args.count % len(SPEAKERS["devices"]))


if __name__ == "__main__":
    sys.exit(main())
