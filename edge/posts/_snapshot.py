"""Protection state as JSON and back: what a restart restores, checked, on whatever clock it finds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from edge.posts._elements import PortState, PostState
from edge.posts._records import SnapshotError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["STATE_VERSION", "dump_state", "load_state"]

STATE_VERSION = 1

_STATE = TypeAdapter(PostState)


def dump_state(state: PostState) -> dict[str, Any]:
    """The whole state (latches, accumulators, timers, last readings) as JSON types."""
    data: dict[str, Any] = _STATE.dump_python(state, mode="json")
    return data


def load_state(data: Mapping[str, Any], post: str, ports: Mapping[int, object],
               now: float | None) -> PostState:
    """A state from ``dump_state()`` for ``post`` with its configured ``ports``.

    Ports no longer configured are dropped; newly configured ports start clear. When ``now``
    (the new clock) is behind the saved state, its readings and times are forgotten (latches
    and accumulators are kept).

    Raises:
        SnapshotError: The data is malformed, of another version or of another post.
    """
    try:
        state = _STATE.validate_python(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        msg = (
            f"post {post}: saved protection state is malformed "
            f"({err.error_count()} problem(s); first at {where}: {first['msg']})"
        )
        raise SnapshotError(msg) from err
    if state.version != STATE_VERSION or state.post != post:
        msg = (
            f"post {post}: saved protection state is for post {state.post!r}, "
            f"version {state.version} (expected {post!r}, version {STATE_VERSION})"
        )
        raise SnapshotError(msg)
    state.ports = {p: state.ports.get(p, PortState()) for p in ports}
    saved_at = max([t for t in (state.cursor, state.last_ts) if t is not None]
                   + [st.last_ts for st in state.ports.values() if st.last_ts is not None],
                   default=None)
    if now is not None and saved_at is not None and saved_at > now:
        _rebase(state)
    return state


def _rebase(state: PostState) -> None:
    """Forget the clock of a saved state; keep latches and what the elements accumulated.

    The times in a snapshot come from the clock of the process that saved it. After a restart
    the new clock may be behind it (the wall clock was stepped, the box rebooted): a cursor in
    the future would make every new reading look out of order and blind protection. Readings
    held from before the restart are stale by then anyway.
    """
    state.cursor = None
    state.last_ts = None
    state.temp = None
    for st in state.ports.values():
        st.last_ts = None
        st.current = st.power = st.temp = None
