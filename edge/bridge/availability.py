"""Which posts are online, from the outcome of each device's polls."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["PostAvailability"]


class PostAvailability:
    """Online/offline per post, from consecutive failed polls of its devices.

    A device is *up* after a successful poll and *down* after `offline_after` failed polls in a
    row. A post is online while any of its devices is up, and offline once all of them are down:
    a dead meter on one port must not hide the rest of the post (the daemon inhibits a post's
    alerts while it is offline). Until each device has an outcome the post's state is unknown.
    """

    def __init__(self, devices_by_post: Mapping[str, Sequence[str]], offline_after: int) -> None:
        """Start with every post unknown."""
        self._offline_after = offline_after
        self._post_of = {d: post for post, devices in devices_by_post.items() for d in devices}
        self._devices = {post: tuple(devices) for post, devices in devices_by_post.items()}
        self._failures = dict.fromkeys(self._post_of, 0)
        self._up: dict[str, bool | None] = dict.fromkeys(self._post_of)
        self._state: dict[str, bool | None] = dict.fromkeys(self._devices)

    def state(self, post: str) -> bool | None:
        """True online, False offline, None not known yet."""
        return self._state[post]

    def posts(self) -> list[str]:
        """Every post, in the order given."""
        return list(self._devices)

    def success(self, device: str) -> tuple[str, bool] | None:
        """Record a good poll; return (post, online) when the post's state changed."""
        self._failures[device] = 0
        self._up[device] = True
        return self._update(self._post_of[device])

    def failure(self, device: str) -> tuple[str, bool] | None:
        """Record a failed poll; return (post, online) when the post's state changed."""
        self._failures[device] += 1
        if self._failures[device] >= self._offline_after:
            self._up[device] = False
        return self._update(self._post_of[device])

    def _update(self, post: str) -> tuple[str, bool] | None:
        ups = [self._up[d] for d in self._devices[post]]
        if any(up is True for up in ups):
            new: bool | None = True
        elif all(up is False for up in ups):
            new = False
        else:
            new = self._state[post]
        if new is None or new == self._state[post]:
            return None
        self._state[post] = new
        return post, new
