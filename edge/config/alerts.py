"""``alerts:`` — the duty roster (workers, shifts, channels) and the escalation chains.

The roster lives in config.yaml so that ``gridedge check`` reports every mistake in it with
file and line, like the rest of the site file. Channel URLs are Apprise URLs taken from
``${ENV}`` variables, so no webhook key or password is written in the file.
"""

from __future__ import annotations

import string
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails

from edge.config.base import ClockTime, DeviceId, SpeakerRef, StrictModel, closest, fail
from edge.i18n import N_

__all__ = [
    "AlertsConfig",
    "Day",
    "EscalationConfig",
    "EscalationStep",
    "Role",
    "ShiftConfig",
    "SilenceMode",
    "SpeakConfig",
    "WorkerConfig",
    "check_alert_references",
]


class Role(StrEnum):
    """What a person on the roster is; escalation steps name roles."""

    GRID_WORKER = "grid_worker"      # 网格员: walks to the post
    DUTY_OFFICER = "duty_officer"    # 社区值班人员
    CADRE = "cadre"                  # 包联干部


class Day(StrEnum):
    """A day rule of a shift, spelled as in YAML (Chinese spellings are accepted too)."""

    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"
    DAILY = "daily"
    WORKDAYS = "workdays"            # Chinese working days, incl. adjusted weekends (调休上班)
    RESTDAYS = "restdays"            # weekends and public holidays that are not worked


class SilenceMode(StrEnum):
    """What happens to notifications of a silenced alert."""

    HOLD = "hold"                    # kept, and sent when the silence ends
    SUPPRESS = "suppress"            # recorded as suppressed, never sent


_DAY_ALIASES = {"周一": "mon", "周二": "tue", "周三": "wed", "周四": "thu", "周五": "fri",
                "周六": "sat", "周日": "sun", "周天": "sun", "每天": "daily", "工作日": "workdays",
                "休息日": "restdays", "节假日": "restdays"}


def _day(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        return _DAY_ALIASES.get(text, text.lower())
    return value


DayRule = Annotated[Day, BeforeValidator(_day)]


class ShiftConfig(StrictModel):
    """One recurring shift. ``end`` not after ``start`` means it runs past midnight."""

    days: list[DayRule] = Field(min_length=1, description="days the shift starts on: mon…sun, "
                                "daily, workdays (Chinese working days incl. adjusted weekends), "
                                "restdays")
    start: ClockTime = Field(description="start, HH:MM site time")
    end: ClockTime = Field(description="end, HH:MM site time; not after start = next day; "
                           "equal to start = 24 hours")


class WorkerConfig(StrictModel):
    """A person who is alerted: grid worker, duty officer or cadre."""

    name: str = Field(min_length=1, description="name shown in messages, e.g. 王芳")
    role: Role = Field(description="grid_worker, duty_officer or cadre")
    phone: str = Field(default="", description="phone number shown to colleagues, optional")
    areas: list[str] = Field(default_factory=list, description="grid areas (names under "
                             "'areas:') this person covers; empty = all")
    channels: list[str] = Field(default_factory=list, description="Apprise URLs (WeCom, "
                                "DingTalk, Feishu, mailto, SMS gateway, ntfy …), from ${ENV}")
    shifts: list[ShiftConfig] = Field(default_factory=list, description="when on duty; empty = "
                                      "always reachable")

    @field_validator("channels")
    @classmethod
    def _channel_urls(cls, urls: list[str]) -> list[str]:
        errors = [InitErrorDetails(type=fail(N_("not a notification URL: write it like "
                                                "wecombot://KEY or ntfy://host/topic, usually "
                                                "taken from an environment variable")),
                                   loc=(i,), input=url)
                  for i, url in enumerate(urls) if url and "://" not in url]
        if errors:
            raise ValidationError.from_exception_data("channels", errors)
        return [url for url in urls if url]  # an unset ${X:-} means "no such channel here"


# Placeholders a spoken alert's text may use (filled by edge.alerts.speak).
SPEAK_FIELDS = ("what", "where", "post", "port", "location", "site")
SPEAK_MAX_TEXT = 200


class SpeakConfig(StrictModel):
    """A short alert spoken on named speakers when its escalation step is reached."""

    speakers: list[SpeakerRef] = Field(min_length=1, description="speakers (name or id), e.g. "
                                       "the gate nearest the post or the duty room")
    text: str = Field(default="", max_length=SPEAK_MAX_TEXT, description="what to say; may use "
                      "{what} {where} {post} {port} {location} {site}; empty = a standard "
                      "sentence")
    repeat: int = Field(default=2, ge=1, le=3, description="times the text is said")
    volume: int | None = Field(default=None, ge=0, le=100, description="percent; empty = each "
                               "speaker's own volume")

    @field_validator("text")
    @classmethod
    def _known_fields(cls, text: str) -> str:
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
        except ValueError:
            raise fail(N_("a '{{' or '}}' without its partner; write a placeholder like "
                          "{{where}}")) from None
        for name in names:
            if name not in SPEAK_FIELDS:
                hint = closest(name, SPEAK_FIELDS)
                raise fail(N_("unknown placeholder {{{name}}}; use {known}")
                           if hint is None else N_("unknown placeholder {{{name}}}; did you mean "
                                                   "{{{hint}}}?"),
                           name=name, hint=hint or "",
                           known=" ".join(f"{{{f}}}" for f in SPEAK_FIELDS))
        return text


class EscalationStep(StrictModel):
    """One level of an escalation chain."""

    after_min: float = Field(ge=0, le=1440, description="minutes after the alert fired, "
                             "unacknowledged, before this level is notified")
    notify: list[str] = Field(min_length=1, description="roles (grid_worker, duty_officer, "
                              "cadre) and/or worker ids")
    speak: SpeakConfig | None = Field(default=None, description="also say the alert on these "
                                      "speakers (in quiet hours only when critical)")


class EscalationConfig(StrictModel):
    """The chain of one severity."""

    repeat_every_min: float = Field(default=5, ge=0.5, le=1440, description="repeat to the "
                                    "current level every so many minutes until acknowledged")
    steps: list[EscalationStep] = Field(default_factory=list, description="levels in order; "
                                        "empty = MQTT record only, nobody's phone")

    @model_validator(mode="after")
    def _steps_in_order(self) -> EscalationConfig:
        for i in range(1, len(self.steps)):
            if self.steps[i].after_min < self.steps[i - 1].after_min:
                raise fail(N_("each step must come at or after the one before it (minutes "
                              "count from when the alert fired)"), at=("steps", i, "after_min"))
        return self


def _default_chains() -> dict[str, EscalationConfig]:
    step = EscalationStep
    return {
        "critical": EscalationConfig(repeat_every_min=5, steps=[
            step(after_min=0, notify=["grid_worker"]), step(after_min=5, notify=["duty_officer"]),
            step(after_min=15, notify=["cadre"])]),
        "warning": EscalationConfig(repeat_every_min=30, steps=[
            step(after_min=0, notify=["grid_worker"]), step(after_min=60, notify=["duty_officer"])]),
        "info": EscalationConfig(repeat_every_min=60, steps=[]),
    }


class AlertsConfig(StrictModel):
    """Alerting of grid workers: roster, escalation, silences."""

    enabled: bool = Field(default=True, description="false = log alerts only, notify nobody")
    workers: dict[DeviceId, WorkerConfig] = Field(default_factory=dict,
                                                  description="worker id → person")
    escalation: dict[str, EscalationConfig] = Field(default_factory=_default_chains,
                                                    description="severity → chain")
    silence_mode: SilenceMode = Field(default=SilenceMode.HOLD, description="hold = send when "
                                      "the silence ends; suppress = record, never send")
    broker_unreachable_after_s: int = Field(default=120, ge=5, le=86400, description="MQTT "
                                            "broker gone this long = one 'broker unreachable' "
                                            "alert, seconds")
    offline_hold_s: int | None = Field(default=None, ge=0, le=86400, description="a post or "
                                       "speaker must stay offline this long before anyone is "
                                       "paged, seconds; empty = the post's offline_after_s "
                                       "(speakers: 180)")

    @field_validator("escalation")
    @classmethod
    def _severities(cls, chains: dict[str, EscalationConfig]) -> dict[str, EscalationConfig]:
        allowed = ("critical", "warning", "info")
        errors = [_error(N_("unknown severity '{name}'; use critical, warning or info"),
                         (name, "[key]"), name, name=name)
                  for name in chains if name not in allowed]
        if errors:
            raise ValidationError.from_exception_data("escalation", errors)
        return {**{k: v for k, v in _default_chains().items() if k not in chains}, **chains}


def _error(msgid: str, loc: tuple[str | int, ...], got: Any, **args: Any) -> InitErrorDetails:
    return InitErrorDetails(type=fail(msgid, **args), loc=loc, input=got)


def check_alert_references(alerts: AlertsConfig, areas: dict[str, Any]) -> None:
    """Every area a worker covers and every target of a step must exist; all problems at once.

    Raises:
        ValidationError: one error per dangling name, each at the place it is written.
    """
    errors: list[InitErrorDetails] = []
    for wid, worker in alerts.workers.items():
        for i, area in enumerate(worker.areas):
            if area not in areas:
                errors.append(_unknown(N_("there is no grid area '{name}'"), area, list(areas),
                                       ("workers", wid, "areas", i)))
    targets = [r.value for r in Role] + list(alerts.workers)
    for severity, chain in alerts.escalation.items():
        for s, step in enumerate(chain.steps):
            for t, target in enumerate(step.notify):
                if target not in targets:
                    errors.append(_unknown(N_("there is no role or worker '{name}'"), target,
                                           targets, ("escalation", severity, "steps", s,
                                                     "notify", t)))
    if errors:
        raise ValidationError.from_exception_data("alerts", errors)


def _unknown(msgid: str, name: str, known: list[str], loc: tuple[str | int, ...],
             ) -> InitErrorDetails:
    hint = closest(name, known)
    if hint is not None:
        return _error(N_("{msg}; did you mean '{hint}'?"), loc, name, msg=msgid, hint=hint,
                      name=name)
    return _error(N_("{msg}; known: {known}"), loc, name, msg=msgid, name=name,
                  known=", ".join(known) or "-")
