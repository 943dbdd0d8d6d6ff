"""Announcement schedules: files staff write, the Chinese calendar, occurrences, preview, scheduler."""

from edge.schedule.calendar import ChinaCalendar, DayInfo
from edge.schedule.holidays_file import HolidayArrangement, load_holiday_file
from edge.schedule.load import calendar_for, load_schedule_files, load_schedules
from edge.schedule.occurrences import Occurrence, expand
from edge.schedule.preview import render_preview
from edge.schedule.reload import FileWatcher
from edge.schedule.schedule import Announcement, Schedule
from edge.schedule.scheduler import Scheduler

__all__ = [
    "Announcement",
    "ChinaCalendar",
    "DayInfo",
    "FileWatcher",
    "HolidayArrangement",
    "Occurrence",
    "Schedule",
    "Scheduler",
    "calendar_for",
    "expand",
    "load_holiday_file",
    "load_schedule_files",
    "load_schedules",
    "render_preview",
]
