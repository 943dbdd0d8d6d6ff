"""Console pages on schedules and plays: the week's timetable as a picture, and proof of play.

The timetable expands the running schedule with the same function as ``gridedge schedule
preview`` (:func:`edge.schedule.occurrences.expand`, dropped slots included and marked), one row
per speaker per day on a 24-hour line with quiet hours and holidays shaded. Proof of play reads
the play log (one row per announcement slot and speaker), filtered, as a table or CSV.
"""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import date, datetime, time, timedelta
from typing import Any

from aiohttp import web

from edge.console.const import PLAYS_PAGE_ROWS
from edge.console.pages import PRIORITY_NAMES
from edge.console.web import ConsoleWeb

__all__ = ["routes"]

PLAY_STATES = {"queued": "排队中", "dispatched": "已发送", "played": "已播放",
               "interrupted": "被打断", "missed": "错过", "failed": "失败"}
WEEKDAYS = "一二三四五六日"
_DAY_S = 86400.0


def routes(console: ConsoleWeb) -> list[web.RouteDef]:
    """The routes of this module, relative to /console."""
    reports = _Reports(console)
    return [web.get("/timetable", reports.timetable), web.get("/plays", reports.plays),
            web.get("/plays.csv", reports.plays_csv)]


def _percent(moment: datetime, day_start: datetime) -> float:
    return round(max(0.0, min(100.0, (moment - day_start).total_seconds() / _DAY_S * 100)), 3)


class _Reports:
    def __init__(self, console: ConsoleWeb) -> None:
        self.console = console
        self.app = console.app

    # -- timetable ------------------------------------------------------------------------------

    async def timetable(self, request: web.Request) -> web.Response:
        config = self.app.config
        today = datetime.now(config.site.tz).date()
        try:
            first = date.fromisoformat(request.query.get("from", "")) if "from" in \
                request.query else today
        except ValueError:
            first = today
        days = await asyncio.to_thread(self._week, first)
        return await self.console.render(request, "timetable.html", days=days, first=first,
                                         prev=first - timedelta(days=7),
                                         next=first + timedelta(days=7),
                                         quiet=config.site.quiet_hours)

    def _week(self, first: date) -> list[dict[str, Any]]:
        from edge.schedule.occurrences import DROP_QUIET, expand  # noqa: PLC0415

        config = self.app.config
        tz = config.site.tz
        component: Any = self.app.service("schedule")
        scheduler = getattr(component, "scheduler", None)  # set once the first load finished
        schedule = getattr(scheduler, "schedule", None)
        calendar = getattr(scheduler, "calendar", None)
        quiet = (config.site.quiet_hours.start, config.site.quiet_hours.end)
        shaded = _quiet_bands(*quiet)
        names = {sid: s.name or sid for sid, s in config.speakers.devices.items()}
        out = []
        for n in range(7):
            day = first + timedelta(days=n)
            start = datetime.combine(day, time(0), tzinfo=tz)
            info = calendar.day(day) if calendar is not None else None
            occurrences = [] if schedule is None or calendar is None else expand(
                schedule, start, start + timedelta(days=1), tz=tz, calendar=calendar,
                quiet=quiet, include_dropped=True)
            rows = []
            for sid, name in names.items():
                slots = [{"left": _percent(o.when, start), "time": o.when.strftime("%H:%M"),
                          "title": o.announcement.title,
                          "priority": o.announcement.priority.value,
                          "priority_name": PRIORITY_NAMES[o.announcement.priority.value],
                          "dropped": ("静音时段" if o.dropped == DROP_QUIET
                                      else "不播" if o.dropped else ""),
                          "width": max(0.4, round(o.announcement.duration_s / _DAY_S * 100, 3))}
                         for o in occurrences if sid in o.announcement.speakers]
                rows.append({"id": sid, "name": name, "slots": slots})
            kind = ""
            if info is not None:
                kind = (f"节假日：{info.holiday}" if info.holiday is not None
                        else "调休上班" if info.adjusted_workday
                        else "工作日" if info.workday else "休息日")
            out.append({"date": day.isoformat(), "weekday": WEEKDAYS[day.weekday()],
                        "kind": kind, "holiday": bool(info and info.holiday is not None),
                        "rest": bool(info and not info.workday), "quiet": shaded,
                        "rows": rows})
        return out

    # -- proof of play --------------------------------------------------------------------------

    def _query(self, request: web.Request) -> tuple[dict[str, str], list[dict[str, Any]]]:
        config = self.app.config
        tz = config.site.tz
        query = request.query
        today = datetime.now(tz).date()
        month = query.get("month", "")
        chosen = {"date": query.get("date", "" if month else today.isoformat()),
                  "month": month, "speaker": query.get("speaker", ""),
                  "announcement": query.get("announcement", "").strip(),
                  "state": query.get("state", "")}
        try:
            if chosen["month"]:
                first = date.fromisoformat(chosen["month"] + "-01")
                after = (first + timedelta(days=32)).replace(day=1)
            else:
                first = date.fromisoformat(chosen["date"])
                after = first + timedelta(days=1)
        except ValueError:
            first, after = today, today + timedelta(days=1)
            chosen.update(date=today.isoformat(), month="")
        sql = ("SELECT key, speaker, announcement, source, priority, due, state, confirmation, "
               "reason, started_at, ended_at, duration_s FROM plays WHERE due >= ? AND due < ?")
        params: list[Any] = [datetime.combine(first, time(0), tzinfo=tz).timestamp(),
                             datetime.combine(after, time(0), tzinfo=tz).timestamp()]
        if chosen["speaker"]:
            sql += " AND speaker = ?"
            params.append(chosen["speaker"])
        if chosen["state"]:
            sql += " AND state = ?"
            params.append(chosen["state"])
        if chosen["announcement"]:
            sql += " AND announcement LIKE ? ESCAPE '\\'"
            escaped = chosen["announcement"].replace("\\", "\\\\").replace("%", "\\%")
            params.append("%" + escaped.replace("_", "\\_") + "%")
        sql += f" ORDER BY due, speaker LIMIT {PLAYS_PAGE_ROWS}"
        names = {sid: s.name or sid for sid, s in config.speakers.devices.items()}
        rows = []
        for r in self.app.store.query(sql, tuple(params)):
            rows.append({**dict(r), "speaker_name": names.get(r["speaker"], r["speaker"]),
                         "state_name": PLAY_STATES.get(r["state"], r["state"]),
                         "priority_name": PRIORITY_NAMES.get(r["priority"], r["priority"]),
                         "due_text": self.console.when(r["due"], "%Y-%m-%d %H:%M"),
                         "played_text": self.console.when(r["started_at"], "%H:%M:%S")})
        return chosen, rows

    async def plays(self, request: web.Request) -> web.Response:
        chosen, rows = await asyncio.to_thread(self._query, request)
        counts: dict[str, int] = {}
        for row in rows:
            counts[row["state_name"]] = counts.get(row["state_name"], 0) + 1
        speakers = {sid: s.name or sid for sid, s in self.app.config.speakers.devices.items()}
        return await self.console.render(request, "plays.html", chosen=chosen, rows=rows,
                                         counts=counts, speakers=speakers, states=PLAY_STATES,
                                         limit=PLAYS_PAGE_ROWS, query=request.query_string)

    async def plays_csv(self, request: web.Request) -> web.Response:
        chosen, rows = await asyncio.to_thread(self._query, request)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["计划时间", "喇叭", "广播", "优先级", "来源", "结果", "开始播放",
                         "确认方式", "原因"])
        for r in rows:
            writer.writerow([r["due_text"], r["speaker_name"], r["announcement"],
                             r["priority_name"], r["source"], r["state_name"], r["played_text"],
                             r["confirmation"], r["reason"]])
        name = chosen["month"] or chosen["date"]
        # A byte-order mark, so that Excel on the office PC opens the Chinese text correctly.
        return web.Response(body=("\ufeff" + buffer.getvalue()).encode("utf-8"),
                            content_type="text/csv", charset="utf-8", headers={
                                "Content-Disposition": f'attachment; filename="plays-{name}.csv"'})


def _quiet_bands(start: time, end: time) -> list[dict[str, float]]:
    def pct(t: time) -> float:
        return round((t.hour * 3600 + t.minute * 60) / _DAY_S * 100, 3)

    if start <= end:
        return [{"left": pct(start), "width": pct(end) - pct(start)}]
    return [{"left": 0.0, "width": pct(end)}, {"left": pct(start), "width": 100 - pct(start)}]
