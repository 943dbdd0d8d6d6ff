"""Time stepping of one post's protection elements: pickups, integration, operation, latching.

Inputs are piecewise constant between events (a reading arriving, a reading going stale), so
each step integrates exactly and finds the exact time the first element operates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from edge.posts._curves import operate_time
from edge.posts._elements import DefiniteTime, Held, PortState, PostState, held_at
from edge.posts._records import Latch, Trip, TripCause

if TYPE_CHECKING:
    from collections.abc import Iterator

    from edge.posts._limits import PortLimits, PostLimits

_MAX_STEPS = 10_000


class Measured(NamedTuple):
    """What operated an element: value, setting and unit (all None for a device fault)."""

    value: float | None
    limit: float | None
    unit: str | None


NOT_MEASURED = Measured(None, None, None)


@dataclass(frozen=True, slots=True)
class _Operation:
    """An element that would operate at ``time`` if its input still stands (until ``expiry``)."""

    time: float
    cause: TripCause
    port: int | None
    expiry: float


class Engine:
    """The elements of one post over time; ``PostProtection`` feeds it readings."""

    def __init__(
        self, post_id: str, post_limits: PostLimits, port_limits: dict[int, PortLimits]
    ) -> None:
        """Start with every port clear."""
        self.post = post_id
        self.limits = post_limits
        self.port_limits = port_limits
        self.state = PostState(post=post_id, ports={p: PortState() for p in port_limits})

    def next_deadline(self) -> float | None:
        """Return when ``advance()`` should next be called, or None if nothing is timing.

        Calling it earlier or later is safe: earlier finds nothing, later trips late.
        """
        s = self.state
        if s.cursor is None:
            return None
        best = math.inf
        for op in self._candidates(s.cursor):
            if op.time <= op.expiry:
                best = min(best, op.time)
            elif op.cause is TripCause.POST_TOTAL_CURRENT and math.isfinite(op.time):
                best = min(best, op.expiry)  # the total changes when a port reading goes stale
        return None if math.isinf(best) else best

    def unlatched(self) -> list[int]:
        """Ports not latched, in configured order."""
        return [p for p, st in self.state.ports.items() if st.latch is None]

    def latch(self, ports: tuple[int, ...], cause: TripCause, at: float) -> None:
        """Hold ports off; a port already latched keeps its first cause."""
        for p in ports:
            st = self.state.ports[p]
            if st.latch is None:
                st.latch = Latch(cause, at)
                st.clear_elements()
            st.cut_at = at
            st.seen_off_since_cut = False

    def port_trip(
        self,
        port: int,
        cause: TripCause,
        at: float,
        measured: Measured,
        evidence: dict[str, object],
    ) -> Trip:
        """Latch one port and describe why, with its recent samples."""
        evidence["samples"] = [list(s) for s in self.state.ports[port].samples]
        self.latch((port,), cause, at)
        return Trip(self.post, port, (port,), cause, at, *measured, evidence=evidence)

    def post_trip(
        self, cause: TripCause, at: float, measured: Measured, evidence: dict[str, object]
    ) -> Trip:
        """Latch every port of the post."""
        ports = tuple(sorted(self.state.ports))
        self.latch(ports, cause, at)
        return Trip(self.post, None, ports, cause, at, *measured, evidence=evidence)

    def advance(self, to: float) -> list[Trip]:
        """Integrate every element up to ``to``, operating elements in time order."""
        s = self.state
        if s.cursor is None:
            s.cursor = to
        to = max(to, s.cursor)
        t = s.cursor
        trips: list[Trip] = []
        for _ in range(_MAX_STEPS):
            self._update_pickups(t)
            seg_end = min(to, self._next_expiry(t))
            due = [op for op in self._candidates(t) if op.time <= seg_end]
            op = min(due, key=lambda o: o.time, default=None)
            end = seg_end if op is None else op.time
            if end > t:
                self._integrate(t, end - t)
            t = end
            if op is not None:
                trips.extend(self._operate(op, to))
            elif t >= to:
                s.cursor = to
                return trips
        msg = f"post {self.post}: protection did not settle at {to}"  # each step latches or clears
        raise RuntimeError(msg)

    def _standing(self, held: Held | None, t: float) -> float | None:
        return held_at(held, t, self.limits.max_hold_s)

    def _total(self, t: float) -> tuple[float | None, float]:
        """Sum of standing port currents at ``t`` and when the first of them goes stale."""
        hold = self.limits.max_hold_s
        values, expiry = [], math.inf
        for st in self.state.ports.values():
            v = st.current_for_total(t, hold)
            if v is not None and st.current is not None:
                values.append(v)
                expiry = min(expiry, st.current.ts + hold)
        return (math.fsum(values) if values else None), expiry

    def _next_expiry(self, t: float) -> float:
        hold = self.limits.max_hold_s
        held = [self.state.temp]
        for st in self.state.ports.values():
            held += [st.current, st.power, st.temp]
        return min(
            (h.ts + hold for h in held if h is not None and h.ts + hold > t), default=math.inf
        )

    def _update_pickups(self, t: float) -> None:
        for p, st in self.state.ports.items():
            lim = self.port_limits[p]
            if st.latch is not None:
                continue
            if lim.overpower_w is not None:
                st.overpower.update(self._standing(st.power, t), lim.overpower_w, t)
            if lim.overtemp_c is not None:
                st.overtemp.update(self._standing(st.temp, t), lim.overtemp_c, t)
        if self.limits.total_current_a is not None:
            self.state.total.update(self._total(t)[0], self.limits.total_current_a, t)
        if self.limits.overtemp_c is not None:
            self.state.overtemp.update(
                self._standing(self.state.temp, t), self.limits.overtemp_c, t
            )

    def _integrate(self, t: float, dt: float) -> None:
        for p, st in self.state.ports.items():
            if st.latch is not None:
                continue
            current = self._standing(st.current, t)
            if current is not None:
                st.inverse.integrate(self.port_limits[p], current, t, dt)
            st.overpower.integrate(self._standing(st.power, t), dt)
            st.overtemp.integrate(self._standing(st.temp, t), dt)
        self.state.total.integrate(self._total(t)[0], dt)
        self.state.overtemp.integrate(self._standing(self.state.temp, t), dt)

    def _candidates(self, t: float) -> Iterator[_Operation]:
        """Every element that is timing, with when it would operate."""
        hold = self.limits.max_hold_s
        for p, st in self.state.ports.items():
            lim = self.port_limits[p]
            if st.latch is not None:
                continue
            if (current := self._standing(st.current, t)) is not None and st.current is not None:
                t_op = st.inverse.time_to_operate(lim, current)
                yield _Operation(t + t_op, TripCause.INVERSE_TIME, p, st.current.ts + hold)
            if (
                lim.overpower_w is not None
                and st.power is not None
                and self._standing(st.power, t) is not None
            ):
                t_op = st.overpower.time_to_operate(lim.overpower_delay_s)
                yield _Operation(t + t_op, TripCause.OVERPOWER, p, st.power.ts + hold)
            if (
                lim.overtemp_c is not None
                and st.temp is not None
                and self._standing(st.temp, t) is not None
            ):
                t_op = st.overtemp.time_to_operate(lim.overtemp_delay_s)
                yield _Operation(t + t_op, TripCause.OVERTEMP, p, st.temp.ts + hold)
        if self.limits.total_current_a is not None and self.state.total.picked_at is not None:
            total, expiry = self._total(t)
            if total is not None and self._sheddable(t):
                t_op = self.state.total.time_to_operate(self.limits.total_current_delay_s)
                yield _Operation(t + t_op, TripCause.POST_TOTAL_CURRENT, None, expiry)
        temp = self.state.temp
        if (
            self.limits.overtemp_c is not None
            and temp is not None
            and self._standing(temp, t) is not None
            and self.unlatched()
        ):
            t_op = self.state.overtemp.time_to_operate(self.limits.overtemp_delay_s)
            yield _Operation(t + t_op, TripCause.OVERTEMP, None, temp.ts + hold)

    def _sheddable(self, t: float) -> list[tuple[float, int]]:
        """Unlatched ports drawing current at ``t``, highest current first."""
        loads = [
            (v, p)
            for p, st in self.state.ports.items()
            if st.latch is None and (v := self._standing(st.current, t)) is not None and v > 0
        ]
        return sorted(loads, key=lambda vp: (-vp[0], vp[1]))

    def _operate(self, op: _Operation, at: float) -> list[Trip]:
        common: dict[str, object] = {"operated_at": op.time}
        if op.port is None:
            return self._operate_post(op, at, common)
        st, lim = self.state.ports[op.port], self.port_limits[op.port]
        if op.cause is TripCause.INVERSE_TIME and st.current is not None:
            current = st.current.value
            multiple = current / lim.rated_current_a
            evidence = common | {
                "curve": str(lim.curve),
                "tms": lim.tms,
                "multiple": multiple,
                "operate_time_s": operate_time(lim.curve, lim.tms, multiple),
                "overload_since": st.inverse.started_at,
                "reset_mode": str(lim.reset_mode),
            }
            return [
                self.port_trip(
                    op.port, op.cause, at, Measured(current, lim.rated_current_a, "A"), evidence
                )
            ]
        if op.cause is TripCause.OVERPOWER and st.power is not None and lim.overpower_w is not None:
            evidence = _definite(common, st.overpower, lim.overpower_delay_s, st.power.value)
            peak = st.overpower.peak
            return [
                self.port_trip(
                    op.port, op.cause, at, Measured(peak, lim.overpower_w, "W"), evidence
                )
            ]
        if st.temp is not None and lim.overtemp_c is not None:
            evidence = _definite(common, st.overtemp, lim.overtemp_delay_s, st.temp.value)
            peak = st.overtemp.peak
            return [
                self.port_trip(
                    op.port, op.cause, at, Measured(peak, lim.overtemp_c, "°C"), evidence
                )
            ]
        msg = f"post {self.post}: {op.cause} operated on port {op.port} without its input"
        raise RuntimeError(msg)

    def _operate_post(self, op: _Operation, at: float, common: dict[str, object]) -> list[Trip]:
        s, lim = self.state, self.limits
        if op.cause is TripCause.OVERTEMP and s.temp is not None and lim.overtemp_c is not None:
            evidence = _definite(common, s.overtemp, lim.overtemp_delay_s, s.temp.value)
            peak = s.overtemp.peak
            s.overtemp.clear()
            return [self.post_trip(op.cause, at, Measured(peak, lim.overtemp_c, "°C"), evidence)]
        total, _ = self._total(op.time)
        if total is None or lim.total_current_a is None:
            msg = f"post {self.post}: total current operated without a total"
            raise RuntimeError(msg)
        # Shed the highest loads first: the fewest residents lose power, and the biggest draw
        # is the likeliest culprit. Always at least one, then until the rest fits the limit.
        shed: list[tuple[float, int]] = []
        remaining = total
        for load in self._sheddable(op.time):
            if shed and remaining <= lim.total_current_a:
                break
            shed.append(load)
            remaining -= load[0]
        evidence = _definite(common, s.total, lim.total_current_delay_s, total) | {
            "shed": [[p, v] for v, p in shed],
            "remaining_a": remaining,
        }
        peak = s.total.peak
        s.total.clear()
        return [
            self.port_trip(
                p,
                op.cause,
                at,
                Measured(peak, lim.total_current_a, "A"),
                evidence | {"port_current_a": v},
            )
            for v, p in shed
        ]


def _definite(
    common: dict[str, object], timer: DefiniteTime, delay_s: float, last: float
) -> dict[str, object]:
    """Evidence of a definite-time operation."""
    return common | {"picked_up_at": timer.picked_at, "delay_s": delay_s, "last": last}
