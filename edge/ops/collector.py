"""The Prometheus collector: reads the daemon's counters at scrape time, never on the hot path.

Figures in memory come from one :class:`~edge.ops.figures.Figures` copy taken on the event loop;
outcomes that live in SQLite (plays, notifications) are counted from their tables, so they
survive a restart and agree with ``gridedge plays`` and ``gridedge alerts list``.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from edge.ops.const import LATENESS_BUCKETS_S
from edge.ops.figures import Figures

if TYPE_CHECKING:
    from edge.http import HttpServer
    from edge.store import Store

__all__ = ["GridedgeCollector"]

logger = logging.getLogger(__name__)

_FINAL_PLAYS = ("played", "interrupted", "missed", "failed")
_FINAL_NOTES = ("sent", "failed", "suppressed")


class GridedgeCollector(Collector):
    """Every gridedge metric, built from fresh figures at each scrape.

    Args:
        figures: returns the loop's figures now (raises TimeoutError when the loop is stuck).
        store: the daemon's database.
        http: the HTTP server (its request counters).
        info: constant labels of ``gridedge_build_info`` (site, version).
    """

    def __init__(self, figures: Callable[[], Figures], store: Store, http: HttpServer | None,
                 info: dict[str, str]) -> None:
        self._figures = figures
        self._store = store
        self._http = http
        self._info = info

    def collect(self) -> Iterator[Metric]:
        """Yield every metric family (called by prometheus_client in an HTTP thread)."""
        build = InfoMetricFamily("gridedge_build", "gridedge version and site")
        build.add_metric([], self._info)
        yield build
        try:
            figures = self._figures()
        except (TimeoutError, RuntimeError):
            logger.warning("the event loop did not hand over its figures for /metrics")
            up = GaugeMetricFamily("gridedge_loop_responsive",
                                   "1 when the event loop answered this scrape")
            up.add_metric([], 0)
            yield up
        else:
            up = GaugeMetricFamily("gridedge_loop_responsive",
                                   "1 when the event loop answered this scrape")
            up.add_metric([], 1)
            yield up
            yield from _mqtt(figures)
            yield from _posts(figures)
            yield from _speakers(figures)
            yield from _schedule(figures)
            if figures.alert_duplicates is not None:
                duplicates = CounterMetricFamily(
                    "gridedge_alert_duplicates", "notifications sent again whose earlier attempt "
                    "may have arrived (receivers drop them by their id)")
                duplicates.add_metric([], figures.alert_duplicates)
                yield duplicates
        yield from self._from_store()
        if self._http is not None:
            requests = CounterMetricFamily("gridedge_http_requests", "HTTP requests answered",
                                           labels=["outcome"])
            stats = self._http.stats
            requests.add_metric(["not_found"], stats["not_found"])
            requests.add_metric(["refused"], stats["refused"])
            requests.add_metric(["body_timeout"], stats["body_timeouts"])
            requests.add_metric(["clip"], stats["clips_served"])
            requests.add_metric(["other"], max(0, stats["requests"] - stats["not_found"]
                                               - stats["refused"] - stats["body_timeouts"]
                                               - stats["clips_served"]))
            yield requests

    def _from_store(self) -> Iterator[Metric]:
        try:
            plays = self._store.query("SELECT speaker, state, COUNT(*) AS n FROM plays "
                                      "GROUP BY speaker, state")
            late = self._store.query(_lateness_sql())
            notes = self._store.query("SELECT channel, state, COUNT(*) AS n FROM notifications "
                                      "GROUP BY channel, state")
            open_alerts = self._store.query("SELECT severity, COUNT(*) AS n FROM alerts WHERE "
                                            "state != 'resolved' GROUP BY severity")
        except sqlite3.Error as err:
            logger.warning("metrics: the database could not be read: %s", err)
            return
        played = CounterMetricFamily("gridedge_plays", "plays that ended, by speaker and result",
                                     labels=["speaker", "result"])
        waiting = GaugeMetricFamily("gridedge_plays_unfinished",
                                    "plays queued or dispatched, by speaker and state",
                                    labels=["speaker", "state"])
        for row in plays:
            family = played if row["state"] in _FINAL_PLAYS else waiting
            family.add_metric([row["speaker"], row["state"]], row["n"])
        yield played
        yield waiting
        yield _lateness(late[0])
        sent = CounterMetricFamily("gridedge_alert_notifications",
                                   "alert notifications that ended, by channel and result",
                                   labels=["channel", "result"])
        depth = GaugeMetricFamily("gridedge_alert_outbox_depth",
                                  "notifications waiting in the outbox (pending or held)",
                                  labels=["state"])
        waiting_notes = {"pending": 0, "held": 0}
        for row in notes:
            if row["state"] in _FINAL_NOTES:
                sent.add_metric([row["channel"], row["state"]], row["n"])
            elif row["state"] in waiting_notes:
                waiting_notes[row["state"]] += row["n"]
        for state, count in waiting_notes.items():
            depth.add_metric([state], count)
        yield sent
        yield depth
        alerts = GaugeMetricFamily("gridedge_alerts_open", "alerts not resolved, by severity",
                                   labels=["severity"])
        for row in open_alerts:
            alerts.add_metric([row["severity"]], row["n"])
        yield alerts


def _mqtt(figures: Figures) -> Iterator[Metric]:
    connected = GaugeMetricFamily("gridedge_mqtt_connected", "1 while the broker link is up")
    connected.add_metric([], 1 if figures.mqtt_connected else 0)
    yield connected
    stats = figures.mqtt_stats
    for key, doc in (("received", "MQTT messages received"),
                     ("connects", "successful connections to the broker"),
                     ("handler_errors", "messages a handler failed on"),
                     ("ignored_retained_commands", "retained messages ignored on command topics")):
        family = CounterMetricFamily(f"gridedge_mqtt_{key}", doc)
        family.add_metric([], stats.get(key, 0))
        yield family


def _posts(figures: Figures) -> Iterator[Metric]:
    messages = CounterMetricFamily("gridedge_post_messages",
                                   "messages decoded from each post, by post and profile",
                                   labels=["post", "profile"])
    rejected = CounterMetricFamily("gridedge_post_rejected",
                                   "rejected messages and readings, by post and reason",
                                   labels=["post", "reason"])
    dropped = CounterMetricFamily("gridedge_post_dropped",
                                  "duplicate or out-of-order readings dropped, by post",
                                  labels=["post", "reason"])
    online = GaugeMetricFamily("gridedge_post_online", "1 online, 0 offline (absent: unknown)",
                               labels=["post"])
    latched = GaugeMetricFamily("gridedge_post_latched_ports",
                                "ports latched off until a staff reset", labels=["post"])
    faults = GaugeMetricFamily("gridedge_post_sensor_faults", "open sensor faults",
                               labels=["post"])
    cutoffs = CounterMetricFamily("gridedge_cutoffs",
                                  "cut-off commands sent (retries included), confirmed, failed",
                                  labels=["post", "result"])
    for post in figures.posts:
        messages.add_metric([post.post, post.profile], post.messages)
        for reason, count in sorted(post.rejected.items()):
            rejected.add_metric([post.post, reason], count)
        for reason, count in sorted(post.dropped.items()):
            dropped.add_metric([post.post, reason], count)
        if post.online is not None:
            online.add_metric([post.post], 1 if post.online else 0)
        latched.add_metric([post.post], len(post.latches))
        faults.add_metric([post.post], len(post.sensor_faults))
        cutoffs.add_metric([post.post, "sent"], post.cutoffs_sent)
        for result in ("confirmed", "failed"):
            cutoffs.add_metric([post.post, result], figures.cutoffs.get((post.post, result), 0))
    trips = CounterMetricFamily("gridedge_trips", "protection trips, by post and cause",
                                labels=["post", "cause"])
    for (post_id, cause), count in sorted(figures.trips.items()):
        trips.add_metric([post_id, cause], count)
    yield from (messages, rejected, dropped, online, latched, faults, trips, cutoffs)


def _speakers(figures: Figures) -> Iterator[Metric]:
    online = GaugeMetricFamily("gridedge_speaker_online", "1 online, 0 offline (absent: unknown)",
                               labels=["speaker"])
    playing = GaugeMetricFamily("gridedge_speaker_playing", "1 while a clip plays",
                                labels=["speaker"])
    queued = GaugeMetricFamily("gridedge_speaker_queue_depth", "requests waiting",
                               labels=["speaker"])
    for speaker in figures.speakers:
        if speaker.online is not None:
            online.add_metric([speaker.speaker], 1 if speaker.online else 0)
        playing.add_metric([speaker.speaker], 1 if speaker.playing_key else 0)
        queued.add_metric([speaker.speaker], speaker.queued)
    yield from (online, playing, queued)


def _schedule(figures: Figures) -> Iterator[Metric]:
    loaded = GaugeMetricFamily("gridedge_schedule_loaded", "1 once a schedule has been loaded")
    loaded.add_metric([], 1 if figures.schedule_loads else 0)
    reloads = CounterMetricFamily("gridedge_schedule_loads", "schedule loads, by result",
                                  labels=["result"])
    reloads.add_metric(["loaded"], figures.schedule_loads)
    reloads.add_metric(["rejected"], figures.schedule_rejections)
    yield loaded
    yield reloads


def _lateness_sql() -> str:
    # Bucket bounds are our constants, not input: formatting them into the SQL is safe.
    buckets = ", ".join(f"SUM(d <= {bound!r}) AS b{i}" for i, bound in enumerate(LATENESS_BUCKETS_S))
    return (f"SELECT COUNT(*) AS n, TOTAL(d) AS total, {buckets} FROM "
            "(SELECT MAX(dispatched_at - due, 0.0) AS d FROM plays WHERE dispatched_at IS NOT NULL)")


def _lateness(row: sqlite3.Row) -> Metric:
    family = HistogramMetricFamily("gridedge_play_dispatch_lateness_seconds",
                                   "seconds from a slot's due time to its command going out")
    buckets = [(repr(bound), row[f"b{i}"] or 0) for i, bound in enumerate(LATENESS_BUCKETS_S)]
    buckets.append(("+Inf", row["n"]))
    family.add_metric([], buckets, sum_value=row["total"])
    return family
