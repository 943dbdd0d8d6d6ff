"""Time stepping of one post's protection elements: pickups, integration, operation, latching.

Inputs are piecewise constant between events (a reading arriving, a reading going stale), so
each step integrates exactly and finds the exact time the first element operates.

The cost of a step follows the ports that matter, not the size of the post: a port whose elements
are all at rest and whose standing readings cannot start one (current below the 1.1·Is pickup,
nothing picked up) integrates to nothing and can never operate, so it is left out of the steps
until a new reading of it arrives (``touch()``). Only the post-wide elements (the total current,
the enclosure temperature) look at every port.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

from edge.posts._curves import PICKUP_MULTIPLE, operate_time
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


class _Operation(NamedTuple):
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
        self._order = {p: i for i, p in enumerate(port_limits)}
        # Ports whose elements may be timing (a superset: a port leaves at the next step after
        # it came to rest), and ports with a new reading whose pickups are not evaluated yet.
        self._active: set[int] = set()
        self._touched: set[int] = set()
        self.state = PostState(post=post_id, ports={p: PortState() for p in port_limits})

    @property
    def state(self) -> PostState:
        """The elements' state (replaced whole by a restore)."""
        return self._state

    @state.setter
    def state(self, state: PostState) -> None:
        self._state = state
        self._active = set()
        self._touched = set(state.ports)  # restored: every port is looked at again

    def touch(self, port: int) -> None:
        """A reading of ``port`` was taken: evaluate its pickups at the next step."""
        self._touched.add(port)

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

    def _any_unlatched(self) -> bool:
        return any(st.latch is None for st in self.state.ports.values())

    def latch(self, ports: tuple[int, ...], cause: TripCause, at: float) -> None:
        """Hold ports off; a port already latched keeps its first cause."""
        for p in ports:
            st = self.state.ports[p]
            if st.latch is None:
                st.latch = Latch(cause, at)
                st.clear_elements()
            self._active.discard(p)  # a latched port's elements do not run
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
            total = self._total(t) if self.limits.total_current_a is not None else (None, math.inf)
            self._update_pickups(t, total[0])
            seg_end = min(to, self._next_expiry(t))
            op = None
            for candidate in self._candidates(t, total):
                # The earliest; on a tie the first in port order, as the elements are listed.
                if candidate.time <= seg_end and (op is None or candidate.time < op.time):
                    op = candidate
            end = seg_end if op is None else op.time
            if end > t:
                self._integrate(t, end - t, total[0])
            start, t = t, end
            if op is not None:
                trips.extend(self._operate(op, to, start))
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
            current = st.current
            if current is None or (st.latch is not None and current.ts <= st.latch.at):
                continue  # readings from before a latch describe the load that was cut
            stale_at = current.ts + hold
            if t < stale_at:
                values.append(current.value)
                expiry = min(expiry, stale_at)
        return (math.fsum(values) if values else None), expiry

    def _timing(self, st: PortState, lim: PortLimits, t: float) -> bool:
        """Whether a port's elements may move: picked up, accumulated, or able to start at ``t``."""
        if st.latch is not None:
            return False
        inverse = st.inverse
        if (inverse.accumulated != 0.0 or inverse.started_at is not None
                or st.overpower.picked_at is not None or st.overtemp.picked_at is not None):
            return True
        current = self._standing(st.current, t)
        return current is not None and current / lim.rated_current_a >= PICKUP_MULTIPLE

    def _watched(self) -> list[int]:
        """The ports that may be timing, in configured order (ties operate in that order)."""
        ports = self._active | self._touched
        return sorted(ports, key=self._order.__getitem__) if len(ports) > 1 else list(ports)

    def _next_expiry(self, t: float) -> float:
        """The next time a reading that matters goes stale: of a timing port, of the post, or
        (while the total element is picked up) of any port's current."""
        hold = self.limits.max_hold_s
        s = self.state
        held = [s.temp]
        for p in self._active:
            st = s.ports[p]
            held += [st.current, st.power, st.temp]
        if s.total.picked_at is not None:
            held += [st.current for st in s.ports.values()]
        return min(
            (h.ts + hold for h in held if h is not None and h.ts + hold > t), default=math.inf
        )

    def _update_pickups(self, t: float, total: float | None) -> None:
        """Pick up or drop out on the readings that stand from ``t`` on.

        A definite-time element changes only on a new value (picking up, dropping out, a peak):
        on a value that has stood since the last step it does nothing. So only the ports with a
        new reading are evaluated, and the set of timing ports is brought up to date.
        """
        ports = self.state.ports
        for p in self._touched:
            st, lim = ports[p], self.port_limits[p]
            if st.latch is None:
                if lim.overpower_w is not None:
                    st.overpower.update(self._standing(st.power, t), lim.overpower_w, t)
                if lim.overtemp_c is not None:
                    st.overtemp.update(self._standing(st.temp, t), lim.overtemp_c, t)
            self._active.add(p)
        self._touched.clear()
        for p in [p for p in self._active if not self._timing(ports[p], self.port_limits[p], t)]:
            self._active.discard(p)
        if self.limits.total_current_a is not None:
            self.state.total.update(total, self.limits.total_current_a, t)
        if self.limits.overtemp_c is not None:
            self.state.overtemp.update(
                self._standing(self.state.temp, t), self.limits.overtemp_c, t
            )

    def _integrate(self, t: float, dt: float, total: float | None) -> None:
        ports = self.state.ports
        for p in self._active:
            st = ports[p]
            if st.latch is not None:
                continue
            current = self._standing(st.current, t)
            if current is not None:
                st.inverse.integrate(self.port_limits[p], current, t, dt)
            st.overpower.integrate(self._standing(st.power, t), dt)
            st.overtemp.integrate(self._standing(st.temp, t), dt)
        self.state.total.integrate(total, dt)
        self.state.overtemp.integrate(self._standing(self.state.temp, t), dt)

    def _candidates(
        self, t: float, total: tuple[float | None, float] | None = None
    ) -> Iterator[_Operation]:
        """Every element that is timing, with when it would operate (never: not listed)."""
        hold = self.limits.max_hold_s
        ports = self.state.ports
        for p in self._watched():
            st = ports[p]
            lim = self.port_limits[p]
            if st.latch is not None:
                continue
            if (current := self._standing(st.current, t)) is not None and st.current is not None:
                t_op = st.inverse.time_to_operate(lim, current)
                if t_op != math.inf:
                    yield _Operation(t + t_op, TripCause.INVERSE_TIME, p, st.current.ts + hold)
            if (
                lim.overpower_w is not None
                and st.power is not None
                and self._standing(st.power, t) is not None
            ):
                t_op = st.overpower.time_to_operate(lim.overpower_delay_s)
                if t_op != math.inf:
                    yield _Operation(t + t_op, TripCause.OVERPOWER, p, st.power.ts + hold)
            if (
                lim.overtemp_c is not None
                and st.temp is not None
                and self._standing(st.temp, t) is not None
            ):
                t_op = st.overtemp.time_to_operate(lim.overtemp_delay_s)
                if t_op != math.inf:
                    yield _Operation(t + t_op, TripCause.OVERTEMP, p, st.temp.ts + hold)
        if self.limits.total_current_a is not None and self.state.total.picked_at is not None:
            value, expiry = self._total(t) if total is None else total
            if value is not None and self._sheddable(t):
                t_op = self.state.total.time_to_operate(self.limits.total_current_delay_s)
                yield _Operation(t + t_op, TripCause.POST_TOTAL_CURRENT, None, expiry)
        temp = self.state.temp
        if (
            self.limits.overtemp_c is not None
            and temp is not None
            and self._standing(temp, t) is not None
            and self._any_unlatched()
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

    def _operate(self, op: _Operation, at: float, since: float) -> list[Trip]:
        """Operate ``op``, timed on the inputs that stood from ``since`` until it operated."""
        common: dict[str, object] = {"operated_at": op.time}
        if op.port is None:
            return self._operate_post(op, at, common, since)
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

    def _operate_post(
        self, op: _Operation, at: float, common: dict[str, object], since: float
    ) -> list[Trip]:
        s, lim = self.state, self.limits
        if op.cause is TripCause.OVERTEMP and s.temp is not None and lim.overtemp_c is not None:
            evidence = _definite(common, s.overtemp, lim.overtemp_delay_s, s.temp.value)
            peak = s.overtemp.peak
            s.overtemp.clear()
            return [self.post_trip(op.cause, at, Measured(peak, lim.overtemp_c, "°C"), evidence)]
        # The loads that drove the element: those standing through the step that ended at
        # op.time. At op.time itself the last of them may just have gone stale.
        total, _ = self._total(since)
        if total is None or lim.total_current_a is None:
            msg = f"post {self.post}: total current operated without a total"
            raise RuntimeError(msg)
        # Shed the highest loads first: the fewest residents lose power, and the biggest draw
        # is the likeliest culprit. Always at least one, then until the rest fits the limit.
        shed: list[tuple[float, int]] = []
        remaining = total
        for load in self._sheddable(since):
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
