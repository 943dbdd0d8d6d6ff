"""Overload protection of one charging post: a pure state machine driven by timestamped readings.

Nothing here reads a clock, does I/O or logs: every call takes the time as epoch seconds and
returns what to do (``Trip``, ``Recut``, ``SensorFault``); the daemon acts, logs and persists.

How the daemon drives it:

1. ``observe()`` each port reading and ``observe_post()`` each post-level reading.
2. After every call, ask ``next_deadline()`` and call ``advance(deadline)`` then if nothing
   newer arrived first. Readings stand until the next one (zero-order hold, at most
   ``PostLimits.max_hold_s``), so an element operates exactly on its curve instead of at the
   next sample, which may be 10 s late.
3. Persist ``snapshot()`` (JSON) after every trip or reset and periodically; ``restore()`` it
   at start-up. All timestamps given to one post must come from one clock that never goes
   back: the daemon passes its own monotonic clock (``edge.posts.clock``), never a device's.
4. Feed the port readings of one message with ``observe_many()``: time is stepped once per
   message, and while nothing is timing the readings take a fast path that steps no time.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING, Any

from edge.posts._curves import Curve, CurveConstants, ResetMode, operate_time
from edge.posts._elements import Held, PortState
from edge.posts._engine import NOT_MEASURED, Engine, Measured
from edge.posts._fast import FAST_MARGIN, FastBounds, is_quiet, observe_fast_batch
from edge.posts._limits import (
    MAX_POWER_W,
    MAX_TEMP_C,
    MIN_TEMP_C,
    PortLimits,
    PostLimits,
)
from edge.posts._records import (
    Decision,
    Latch,
    NotLatchedError,
    ProtectionError,
    Recut,
    RecutReason,
    ResetRecord,
    SensorFault,
    SnapshotError,
    Trip,
    TripCause,
    UnknownPortError,
)
from edge.posts._snapshot import dump_state, load_state

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "Curve",
    "CurveConstants",
    "Decision",
    "Latch",
    "NotLatchedError",
    "PortLimits",
    "PostLimits",
    "PostProtection",
    "ProtectionError",
    "Recut",
    "RecutReason",
    "ResetMode",
    "ResetRecord",
    "SensorFault",
    "SnapshotError",
    "Trip",
    "TripCause",
    "UnknownPortError",
    "operate_time",
]

PortReading = tuple[int, "float | None", "float | None", "float | None", "bool | None", "str | None"]
"""(port, current_a, power_w, temp_c, on, fault) of one port in one message; None = not sent."""

# --- Persisted state ---

# --- Latch enforcement ---
LOAD_PRESENT_A = 0.1
"""Above this a port that does not report its relay state is taken to be on (sensor offset)."""
RECUT_RETRY_S = 10.0
"""A latched port still on this long after its cut, never seen off, is cut again."""



class PostProtection:
    """Protection elements, latches and evidence of one post and its ports.

    Args:
        post_id: The post's id, copied into every decision.
        post_limits: Post-wide settings (total current, enclosure temperature, hold time).
        port_limits: Settings per port number; readings for other ports are counted and dropped.
    """

    def __init__(
        self, post_id: str, post_limits: PostLimits, port_limits: Mapping[int, PortLimits]
    ) -> None:
        """Store the settings and start with nothing latched."""
        self._post = post_id
        self._engine = Engine(post_id, post_limits, dict(port_limits))
        self._counts: Counter[str] = Counter()
        self._fast = {p: FastBounds.of(lim) for p, lim in port_limits.items()}
        total = post_limits.total_current_a
        # The total element picks up only above its setting: a total at most that starts nothing.
        self._total_fast = math.inf if total is None else total
        temp = post_limits.overtemp_c
        self._post_temp_fast = MAX_TEMP_C if temp is None else min(MAX_TEMP_C, FAST_MARGIN * temp)
        self._quiet = True

    @property
    def post_id(self) -> str:
        """The post's id."""
        return self._post

    @property
    def counters(self) -> Mapping[str, int]:
        """Readings counted by outcome: accepted, duplicate, out_of_order, unknown_port, ..."""
        return dict(self._counts)

    @property
    def latches(self) -> Mapping[int, Latch]:
        """Latched ports and why."""
        return {p: st.latch for p, st in self._engine.state.ports.items() if st.latch is not None}

    def is_latched(self, port: int) -> bool:
        """Return whether ``port`` is held off until a staff reset.

        Raises:
            UnknownPortError: The port is not configured.
        """
        return self._port(port).latch is not None

    def observe(  # noqa: PLR0913 - one keyword per canonical telemetry field
        self,
        ts: float,
        port: int,
        *,
        current_a: float | None = None,
        power_w: float | None = None,
        temp_c: float | None = None,
        on: bool | None = None,
        fault: str | None = None,
    ) -> list[Decision]:
        """Take one port reading; fields left None were not in the (partial) telemetry.

        Args:
            ts: Reading time in epoch seconds. A time not after the port's last reading is a
                duplicate or out of order: counted and ignored.
            port: Port number.
            current_a: RMS current in A.
            power_w: Active power in W.
            temp_c: Port temperature in °C.
            on: Relay state as the device reports it.
            fault: A fault the device reports (e.g. ``overcurrent``); any non-empty text trips.

        Returns:
            Trips (including ones whose time came before ``ts``), a re-cut if a latched port
            is on, and a sensor fault per implausible value.
        """
        return self.observe_many(ts, [(port, current_a, power_w, temp_c, on, fault)])

    def observe_many(self, ts: float, readings: list[PortReading]) -> list[Decision]:
        """Take the port readings of one message, all taken at ``ts``, in one step of time.

        Time is advanced to ``ts`` once for the whole message, not once per port: the cost of a
        message grows with the ports it carries, not with their square. While nothing is timing,
        a reading that cannot start an element takes the fast path and no time is stepped.

        Args:
            ts: Reading time (see ``observe``).
            readings: (port, current_a, power_w, temp_c, on, fault) per port, None = not sent.
        """
        if self._quiet:
            taken, readings = observe_fast_batch(self._engine.state, self._fast, self._total_fast,
                                                 ts, readings, LOAD_PRESENT_A)
            self._counts["accepted"] += taken
            if not readings:
                return []
        try:
            return self._observe_batch(ts, readings)
        finally:
            self._quiet = is_quiet(self._engine.state, self._fast, self._post_temp_fast, self._total_fast)

    @property
    def quiet(self) -> bool:
        """True while no element is timing: readings far below every setting take a fast path."""
        return self._quiet

    def _observe_batch(self, ts: float, readings: list[PortReading]) -> list[Decision]:
        if not math.isfinite(ts):
            self._counts["bad_timestamp"] += len(readings)
            return []
        decisions: list[Decision] = list(self._engine.advance(ts))
        ports = self._engine.state.ports
        for port, current_a, power_w, temp_c, on, fault in readings:
            st = ports.get(port)
            if st is None:
                self._counts["unknown_port"] += 1
                continue
            if st.last_ts is not None and ts <= st.last_ts:
                self._counts["duplicate" if ts == st.last_ts else "out_of_order"] += 1
                continue
            self._apply(decisions, st, ts, port, (current_a, power_w, temp_c), on, fault)
        decisions.extend(self._engine.advance(ts))
        return decisions

    def _apply(  # noqa: PLR0913 - one reading of one port, where the decisions go
        self, decisions: list[Decision], st: PortState, ts: float, port: int,
        values: tuple[float | None, float | None, float | None], on: bool | None,
        fault: str | None,
    ) -> None:
        current_a, power_w, temp_c = values
        st.last_ts = ts
        self._engine.touch(port)
        self._counts["accepted"] += 1
        ceiling = self._engine.limits.max_current_a
        current = self._checked(decisions, ts, port, "current_a", current_a, low=0.0, high=ceiling)
        # Above the meter's range is a sensor fault, but never a reason to leave a port live.
        over = current_a if current is None and current_a is not None and \
            math.isfinite(current_a) and current_a > ceiling else None
        power = self._checked(decisions, ts, port, "power_w", power_w, low=0.0, high=MAX_POWER_W)
        temp = self._checked(decisions, ts, port, "temp_c", temp_c, low=MIN_TEMP_C, high=MAX_TEMP_C)
        if current is not None:
            st.current = Held(current, ts)
        if power is not None:
            st.power = Held(power, ts)
        if temp is not None:
            st.temp = Held(temp, ts)
        st.record((ts, current, power, temp))
        if st.latch is not None:
            recut = self._recut(st, port, ts, on=on, current=current)
            if recut is not None:
                decisions.append(recut)
        else:
            trip = self._immediate_trip(port, ts, current, (fault or "").strip().lower(),
                                        over_range=over)
            if trip is not None:
                decisions.append(trip)

    def observe_post(
        self, ts: float, *, temp_c: float | None = None, fault: str | None = None
    ) -> list[Decision]:
        """Take a post-level reading (enclosure temperature, a fault the post reports).

        A fault reported by the post itself cuts every port at once (``Trip.port`` is None).
        Port currents for the post total come from ``observe()``.
        """
        s = self._engine.state
        if (self._quiet and not fault and math.isfinite(ts)
                and (s.last_ts is None or ts > s.last_ts)
                and (temp_c is None or MIN_TEMP_C <= temp_c < self._post_temp_fast)):
            # Nothing is timing and nothing can pick up: what advance() would do, minus the work.
            s.last_ts = ts
            if temp_c is not None:
                s.temp = Held(float(temp_c), ts)
            if s.cursor is None or ts > s.cursor:
                s.cursor = ts
            return []
        try:
            return self._observe_post(ts, temp_c, fault)
        finally:
            self._quiet = is_quiet(self._engine.state, self._fast, self._post_temp_fast, self._total_fast)

    def _observe_post(self, ts: float, temp_c: float | None, fault: str | None) -> list[Decision]:
        s = self._engine.state
        if not math.isfinite(ts) or (s.last_ts is not None and ts <= s.last_ts):
            self._counts[
                "post_duplicate_or_out_of_order" if math.isfinite(ts) else "bad_timestamp"
            ] += 1
            return []
        decisions: list[Decision] = list(self._engine.advance(ts))
        s.last_ts = ts
        temp = self._checked(decisions, ts, None, "temp_c", temp_c, low=MIN_TEMP_C, high=MAX_TEMP_C)
        if temp is not None:
            s.temp = Held(temp, ts)
        fault_text = (fault or "").strip().lower()
        if fault_text and self._engine.unlatched():
            decisions.append(
                self._engine.post_trip(
                    TripCause.DEVICE_FAULT, ts, NOT_MEASURED, {"fault": fault_text}
                )
            )
        decisions.extend(self._engine.advance(ts))
        return decisions

    def advance(self, ts: float) -> list[Trip]:
        """Let time pass to ``ts`` with no new readings; return the trips that fall due.

        A time before the last one seen is ignored.
        """
        s = self._engine.state
        if not math.isfinite(ts) or (s.cursor is not None and ts < s.cursor):
            return []
        try:
            return self._engine.advance(ts)
        finally:
            self._quiet = is_quiet(self._engine.state, self._fast, self._post_temp_fast, self._total_fast)

    def next_deadline(self) -> float | None:
        """Return when ``advance()`` should next be called, or None if nothing is timing.

        Calling it earlier or later is safe: earlier finds nothing, later trips late.
        """
        return self._engine.next_deadline()

    def reset(self, port: int, ts: float, by: str) -> ResetRecord:
        """Release a latched port after a staff check; it may be switched on again.

        Raises:
            UnknownPortError: The port is not configured.
            NotLatchedError: The port is not latched.
            ValueError: ``by`` is empty (a reset must name who did it).
        """
        st = self._port(port)
        if not by.strip():
            msg = f"post {self._post} port {port}: a reset must name who did it"
            raise ValueError(msg)
        if st.latch is None:
            msg = f"post {self._post} port {port} is not latched; nothing to reset"
            raise NotLatchedError(msg)
        record = ResetRecord(post=self._post, port=port, at=ts, by=by, latch=st.latch)
        # A reset starts the port afresh. Every held reading describes the load that was cut,
        # including an overload sample that arrived after the cut: held forward past the reset
        # (the next report may carry no current at all, e.g. Tasmota's POWER1 OFF), it would be
        # integrated from before the reset and trip the port again at once.
        st.current = st.power = st.temp = None
        st.latch = None
        st.cut_at = None
        st.seen_off_since_cut = False
        st.clear_elements()
        self._quiet = is_quiet(self._engine.state, self._fast, self._post_temp_fast, self._total_fast)
        return record

    def snapshot(self) -> dict[str, Any]:
        """Return the whole state (latches, accumulators, timers, last readings) as JSON types."""
        return dump_state(self._engine.state)

    def restore(self, data: Mapping[str, Any], now: float | None = None) -> None:
        """Replace the state with one from ``snapshot()``, e.g. after a daemon restart.

        Ports no longer configured are dropped; newly configured ports start clear. When
        ``now`` (the new clock) is behind the saved state, the saved readings and times are
        forgotten (latches and accumulators are kept), so new readings are never out of order.

        Raises:
            SnapshotError: The data is malformed, of another version or of another post.
        """
        state = load_state(data, self._post, self._engine.port_limits, now)
        self._engine.state = state
        self._quiet = is_quiet(self._engine.state, self._fast, self._post_temp_fast, self._total_fast)

    # --- internals ---

    def _port(self, port: int) -> PortState:
        st = self._engine.state.ports.get(port)
        if st is None:
            configured = sorted(self._engine.state.ports)
            msg = f"post {self._post} has no port {port} (configured: {configured})"
            raise UnknownPortError(msg)
        return st

    def _checked(  # noqa: PLR0913 - the reading, where it came from, and its plausible range
        self,
        out: list[Decision],
        ts: float,
        port: int | None,
        quantity: str,
        value: float | None,
        *,
        low: float,
        high: float,
    ) -> float | None:
        """Return a plausible value, or None after appending a SensorFault."""
        if value is None:
            return None
        if math.isfinite(value) and low <= value <= high:
            return float(value)
        reason = (
            "not_finite" if not math.isfinite(value) else "negative" if value < 0 else "implausible"
        )
        self._counts["sensor_invalid"] += 1
        out.append(SensorFault(self._post, port, ts, quantity, repr(value), reason))
        return None

    def _immediate_trip(
        self, port: int, ts: float, current: float | None, fault: str, *,
        over_range: float | None = None,
    ) -> Trip | None:
        """Instantaneous element first (a measured overcurrent), then a reported fault.

        ``over_range`` is a finite current above the plausibility ceiling: not a value the
        other elements may use, but at or above the instantaneous setting it cuts the port.
        """
        lim = self._engine.port_limits[port]
        inst = lim.instantaneous_a
        if inst is not None and current is None and over_range is not None and over_range >= inst:
            evidence: dict[str, object] = {
                "multiple": over_range / lim.rated_current_a, "implausible": True,
                "ceiling_a": self._engine.limits.max_current_a}
            return self._engine.port_trip(port, TripCause.INSTANTANEOUS, ts,
                                          Measured(over_range, inst, "A"), evidence)
        if inst is not None and current is not None and current >= inst:
            evidence = {"multiple": current / lim.rated_current_a}
            measured = Measured(current, inst, "A")
            return self._engine.port_trip(port, TripCause.INSTANTANEOUS, ts, measured, evidence)
        if fault:
            evidence = {"fault": fault}
            return self._engine.port_trip(port, TripCause.DEVICE_FAULT, ts, NOT_MEASURED, evidence)
        return None

    def _recut(
        self, st: PortState, port: int, ts: float, *, on: bool | None, current: float | None
    ) -> Recut | None:
        is_on = on if on is not None else None if current is None else current > LOAD_PRESENT_A
        if is_on is None or st.latch is None:
            return None
        if not is_on:
            st.seen_off_since_cut = True
            return None
        if st.seen_off_since_cut:
            reason = RecutReason.RESTARTED
        elif st.cut_at is None or ts - st.cut_at >= RECUT_RETRY_S:
            reason = RecutReason.STILL_ON
        else:
            return None  # the cut is probably still on its way
        st.cut_at = ts
        st.seen_off_since_cut = False
        return Recut(self._post, port, ts, reason, st.latch)

