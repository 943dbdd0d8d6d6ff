"""The protection core's fast path: a reading that cannot start any element, taken without stepping time.

With no element timing, ``Engine.advance()`` integrates nothing, and a reading below every pickup
(with a margin) starts nothing: only the held values and the evidence change. The full path costs
~170 µs per reading with every element on; this one a few µs. ``is_quiet()`` says when it applies.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from edge.posts._elements import SAMPLES_KEPT, Held, PostState
from edge.posts._limits import MAX_POWER_W, MAX_TEMP_C, MIN_TEMP_C, PortLimits

FAST_MARGIN = 0.95
"""A reading below this fraction of every setting (and below Is) cannot start an element."""


class FastBounds(NamedTuple):
    """Per-port values below which a reading takes the fast path (cached from the limits)."""

    current: float
    power: float
    temp: float

    @classmethod
    def of(cls, lim: PortLimits) -> FastBounds:
        """Bounds for one port's settings."""
        current = lim.rated_current_a  # pickup is 1.1·Is: stay clear of rounding at the edge
        if lim.instantaneous_a is not None:
            current = min(current, lim.instantaneous_a)
        power = MAX_POWER_W if lim.overpower_w is None else FAST_MARGIN * lim.overpower_w
        temp = MAX_TEMP_C if lim.overtemp_c is None else FAST_MARGIN * lim.overtemp_c
        return cls(current, min(power, MAX_POWER_W), min(temp, MAX_TEMP_C))


def is_quiet(state: PostState, fast: dict[int, FastBounds], post_temp_fast: float,
             total_fast: float) -> bool:
    """True when no element is timing and no held reading could start one.

    A reading that just arrived has not been integrated yet (that happens as time passes),
    so held values count too, not only the elements' accumulators.
    """
    if state.total.picked_at is not None or state.overtemp.picked_at is not None:
        return False
    if state.temp is not None and not state.temp.value < post_temp_fast:
        return False
    total = 0.0
    for p, st in state.ports.items():
        bounds = fast[p]
        if (st.inverse.accumulated != 0.0 or st.inverse.started_at is not None
                or st.overpower.picked_at is not None or st.overtemp.picked_at is not None):
            return False
        if st.latch is not None:
            if st.current is not None and st.current.ts > st.latch.at:
                total += st.current.value  # a cut port still drawing counts in the total
            continue  # a latched port's elements do not run
        if st.current is not None:
            if not st.current.value < bounds.current:
                return False
            total += st.current.value
        if st.power is not None and not st.power.value < bounds.power:
            return False
        if st.temp is not None and not st.temp.value < bounds.temp:
            return False
    return total < total_fast


def observe_fast_batch(  # noqa: PLR0913 - the post, its bounds and one message's readings
    state: PostState, fast: dict[int, FastBounds], total_fast: float, ts: float,
    readings: list[tuple[int, float | None, float | None, float | None, bool | None, str | None]],
    load_present_a: float,
) -> tuple[int, list[tuple[int, float | None, float | None, float | None, bool | None, str | None]]]:
    """Take every reading of one message that cannot start an element; (taken, the others).

    The post total is kept as a running sum over the message instead of being summed again for
    each port, so a message costs in proportion to the ports it carries. A latched port reported
    off is taken too (it only confirms the latch); a latched port seen on goes to the full path,
    which decides the re-cut.
    """
    ports = state.ports
    slow = []
    taken = 0
    check_total = total_fast != math.inf
    held_total = 0.0
    if check_total:
        for other in ports.values():
            if other.current is not None:
                held_total += other.current.value  # held values, stale or not: an upper bound
    finite = math.isfinite(ts)
    for reading in readings:
        port, current, power, temp, on, fault = reading
        st = ports.get(port)
        if st is None or fault or not finite or (st.last_ts is not None and ts <= st.last_ts):
            slow.append(reading)
            continue
        latched = st.latch is not None
        if latched and not (on is False or (on is None and current is not None
                                            and current <= load_present_a)):
            slow.append(reading)
            continue
        bounds = fast[port]
        if ((current is not None and not 0.0 <= current < bounds.current)
                or (power is not None and not 0.0 <= power < bounds.power)
                or (temp is not None and not MIN_TEMP_C <= temp < bounds.temp)):
            slow.append(reading)
            continue
        if current is not None and check_total:
            total = held_total + current - (0.0 if st.current is None else st.current.value)
            if not total < total_fast:
                slow.append(reading)
                continue
            held_total = total
        st.last_ts = ts
        # The held readings are updated in place: no new object per port per message.
        if current is not None:
            current = float(current)
            held = st.current
            if held is None:
                st.current = Held(current, ts)
            else:
                held.value, held.ts = current, ts
        if power is not None:
            power = float(power)
            held = st.power
            if held is None:
                st.power = Held(power, ts)
            else:
                held.value, held.ts = power, ts
        if temp is not None:
            temp = float(temp)
            held = st.temp
            if held is None:
                st.temp = Held(temp, ts)
            else:
                held.value, held.ts = temp, ts
        samples = st.samples
        samples.append((ts, current, power, temp))
        if len(samples) > SAMPLES_KEPT:
            del samples[:-SAMPLES_KEPT]
        if latched:
            st.seen_off_since_cut = True
        taken += 1
    if taken and (state.cursor is None or ts > state.cursor):
        state.cursor = ts
    return taken, slow

