"""Loading what `gridedge bridge` needs: config.yaml, its ``bridge:`` section and the register maps.

Rules that need both the config and the maps (a post on the bridge speaks the canonical
profile, a meter's port exists on its post) are checked here, every problem with file:line.
"""

from __future__ import annotations

from pathlib import Path

from edge.bridge.const import CANONICAL_POST_PROFILE
from edge.bridge.maps import load_register_maps
from edge.config import ConfigError, GridedgeConfig, Located, Problem, display_path, load_config
from edge.config.bridge import BridgeConfig, BridgeProtocol
from edge.config.source import read_yaml
from edge.i18n import N_
from edge.profiles import ProfileRegistry
from firmware_bridge import RegisterMap

__all__ = ["load_bridge"]


def load_bridge(path: Path, *, profiles: ProfileRegistry | None = None,
                maps_folder: Path | None = None) -> tuple[GridedgeConfig, dict[str, RegisterMap]]:
    """Load config.yaml and the register maps its ``bridge:`` section names.

    Raises:
        ConfigError: every problem found, each naming file and line (also: no ``bridge:``).
    """
    config = load_config(path, profiles=profiles)
    located = read_yaml(path, display_path(path))
    if config.bridge is None:
        mark = located.mark(())
        raise ConfigError([Problem(mark.file, mark.line, "bridge", "there is no 'bridge:' "
                                   "section; add one that lists the serial lines and devices "
                                   "(see the example in config.yaml)")])
    bridge = config.bridge
    ids = {d.profile for *_, d in bridge.devices() if d.profile is not None}
    maps = load_register_maps(ids, maps_folder)
    problems = _cross_check(config, bridge, maps, located)
    if problems:
        raise ConfigError(problems)
    return config, maps


def _cross_check(config: GridedgeConfig, bridge: BridgeConfig, maps: dict[str, RegisterMap],
                 located: Located) -> list[Problem]:
    problems: list[Problem] = []
    for bus_name, bus, name, device in bridge.devices():
        at = ("bridge", "buses", bus_name, "devices", name)
        post = config.posts.devices[device.post]

        def problem(key: str, message: str, got: object = None, *,
                    at: tuple[str, ...] = at, **args: object) -> None:
            mark = located.mark((*at, key))
            problems.append(Problem(mark.file, mark.line, mark.path, message, dict(args),
                                    got=None if got is None else str(got)))

        if post.profile != CANONICAL_POST_PROFILE:
            problem("post", N_("post '{post}' has profile '{profile}' in posts:, but the bridge "
                    "publishes the canonical format; give it 'profile: gridedge-post'"),
                    post=device.post, profile=post.profile)
        if bus.protocol is BridgeProtocol.JSONLINES or device.profile is None:
            continue
        register_map = maps[device.profile]
        if device.port is not None and register_map.ports > 0:
            problem("port", N_("'port' is only for a single-circuit meter; map '{profile}' has "
                    "{ports} ports of its own"), device.port, profile=device.profile,
                    ports=register_map.ports)
        elif device.port is not None and device.port > post.ports:
            problem("port", N_("post '{post}' has only {ports} ports"), device.port,
                    post=device.post, ports=post.ports)
        elif register_map.ports > post.ports:
            problem("profile", N_("map '{profile}' has {count} ports but post '{post}' has only "
                    "{ports}; set 'ports: {count}' on the post"), profile=device.profile,
                    count=register_map.ports, post=device.post, ports=post.ports)
    return problems
