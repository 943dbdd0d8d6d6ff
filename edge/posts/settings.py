"""Protection limits as staff and installers write them: profile defaults, per post, per port.

A ``limits:`` block may appear in a post profile, under a post in config.yaml (``limits:``) and
under one of its ports (``port_limits: {3: {...}}``). Every setting is optional in a block; the
effective value is the most specific one written (port → post → profile → built-in default).
``resolve()`` merges the blocks and builds the typed settings the protection core takes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

from edge.config.base import StrictModel, fail
from edge.i18n import N_
from edge.posts._curves import Curve, ResetMode
from edge.posts._limits import PortLimits, PostLimits

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["BUILTIN_LIMITS", "POST_ONLY", "EffectiveLimits", "LimitsConfig", "resolve"]

POST_ONLY = ("total_current_a", "total_current_delay_s", "post_overtemp_c",
             "post_overtemp_delay_s", "cutoff_confirm_s", "cutoff_retries", "max_current_a")
"""Settings of a whole post: allowed in a profile or under a post, not under one port."""


class LimitsConfig(StrictModel):
    """Protection settings; each one left out is inherited (port → post → profile → built-in)."""

    rated_current_a: float | None = Field(default=None, gt=0, le=100, description=(
        "setting current Is of a port, A; the inverse-time element starts at 1.1 x this"))
    curve: Curve | None = Field(default=None, description="IEC 60255-151 curve: SI, VI or EI")
    tms: float | None = Field(default=None, ge=0.01, le=10, description="time multiplier of "
                              "the curve (at 2 x Is, SI trips after about 10 x TMS seconds)")
    instantaneous_a: float | None = Field(default=None, gt=0, le=100, description=(
        "a port at or above this current is cut at once, A; null = element off"))
    overpower_w: float | None = Field(default=None, gt=0, le=25000, description=(
        "definite-time over-power of a port, W; null = element off"))
    overpower_delay_s: float | None = Field(default=None, ge=0, le=3600,
                                            description="seconds above overpower_w before a cut")
    overtemp_c: float | None = Field(default=None, gt=0, le=300, description=(
        "port over-temperature, degrees C; null = element off"))
    overtemp_delay_s: float | None = Field(default=None, ge=0, le=3600,
                                           description="seconds above overtemp_c before a cut")
    reset_mode: ResetMode | None = Field(default=None, description=(
        "how overload heat drains below 0.95 x Is: dependent (gradual) or definite (held)"))
    reset_tr_s: float | None = Field(default=None, gt=0, le=3600, description=(
        "reset time constant tr, seconds; null = the curve's own (SI 9.7, VI 43.2, EI 58.2)"))
    total_current_a: float | None = Field(default=None, gt=0, le=200, description=(
        "limit of the post's total current, A (the branch breaker is usually 16 A); null = off"))
    total_current_delay_s: float | None = Field(default=None, ge=0, le=3600, description=(
        "seconds above total_current_a before the biggest loads are cut"))
    post_overtemp_c: float | None = Field(default=None, gt=0, le=300, description=(
        "temperature inside the post that cuts every port, degrees C; null = off"))
    post_overtemp_delay_s: float | None = Field(default=None, ge=0, le=3600, description=(
        "seconds above post_overtemp_c before every port is cut"))
    cutoff_confirm_s: float | None = Field(default=None, ge=0.2, le=600, description=(
        "seconds to wait for telemetry showing a cut port at ~0 A before sending the cut again"))
    cutoff_retries: int | None = Field(default=None, ge=0, le=10, description=(
        "cut-off commands sent again before 'cut-off failed' is raised"))
    max_current_a: float | None = Field(default=None, gt=0, le=1000, description=(
        "plausibility ceiling of a port current (the meter's range), A: a reading above it is a "
        "sensor fault, and still cuts the port when it is at or above instantaneous_a"))

    @model_validator(mode="after")
    def _instantaneous_above_rated(self) -> LimitsConfig:
        """The instantaneous setting is above the rated current when both are written together."""
        inst, rated = self.instantaneous_a, self.rated_current_a
        if inst is not None and rated is not None and inst <= rated:
            raise fail(N_("must be above rated_current_a ({rated}), or null to switch the "
                          "instantaneous element off"), rated=rated, at=("instantaneous_a",))
        return self

    def written(self) -> dict[str, Any]:
        """The settings this block writes itself (null included: it switches an element off)."""
        return self.model_dump(exclude_unset=True)


BUILTIN_LIMITS: dict[str, Any] = {
    "rated_current_a": 3.0,  # e-bike chargers draw 1-3 A at 220 V
    "curve": Curve.SI,
    "tms": 0.5,
    "instantaneous_a": 10.0,
    "overpower_w": 800.0,
    "overpower_delay_s": 10.0,
    "overtemp_c": 70.0,
    "overtemp_delay_s": 5.0,
    "reset_mode": ResetMode.DEPENDENT,
    "reset_tr_s": None,
    "total_current_a": 16.0,
    "total_current_delay_s": 10.0,
    "post_overtemp_c": 65.0,
    "post_overtemp_delay_s": 5.0,
    "cutoff_confirm_s": 5.0,
    "cutoff_retries": 2,
    "max_current_a": 100.0,  # a 16 A branch; a short is cleared by the MCB within 0.1 s
}
"""What applies where neither profile nor config.yaml says otherwise."""


@dataclass(frozen=True, slots=True)
class EffectiveLimits:
    """The settings in force for one post, ready for the protection core and the actions."""

    post: PostLimits
    ports: dict[int, PortLimits]
    cutoff_confirm_s: float
    cutoff_retries: int


def resolve(profile_limits: LimitsConfig, post_limits: LimitsConfig | None,
            port_limits: Mapping[int, LimitsConfig], ports: int) -> EffectiveLimits:
    """Merge the blocks (most specific wins) and build the typed settings.

    Raises:
        ValueError: a combination that only shows after merging (e.g. an instantaneous
            setting inherited from the profile at or below a rated current set for one post);
            the message names the setting and the values.
    """
    base = dict(BUILTIN_LIMITS) | profile_limits.written()
    if post_limits is not None:
        base |= post_limits.written()
    post = PostLimits(
        total_current_a=base["total_current_a"],
        total_current_delay_s=base["total_current_delay_s"],
        overtemp_c=base["post_overtemp_c"],
        overtemp_delay_s=base["post_overtemp_delay_s"],
        max_current_a=base["max_current_a"],
    )
    by_port: dict[int, PortLimits] = {}
    for port in range(1, ports + 1):
        own = base | (port_limits[port].written() if port in port_limits else {})
        by_port[port] = PortLimits(
            rated_current_a=own["rated_current_a"], curve=Curve(own["curve"]), tms=own["tms"],
            instantaneous_a=own["instantaneous_a"], overpower_w=own["overpower_w"],
            overpower_delay_s=own["overpower_delay_s"], overtemp_c=own["overtemp_c"],
            overtemp_delay_s=own["overtemp_delay_s"], reset_mode=ResetMode(own["reset_mode"]),
            reset_tr_s=own["reset_tr_s"])
    return EffectiveLimits(post, by_port, float(base["cutoff_confirm_s"]),
                           int(base["cutoff_retries"]))


def port_block_problems(port_limits: Mapping[int, LimitsConfig], ports: int) -> list[
        tuple[tuple[str | int, ...], str, dict[str, Any]]]:
    """(sub-path, message id, args) for each port block that names a missing port or a post setting."""
    found: list[tuple[tuple[str | int, ...], str, dict[str, Any]]] = []
    for port, block in port_limits.items():
        if not 1 <= port <= ports:
            found.append(((port,), N_("this post has ports 1 to {ports}; there is no port {port}"),
                          {"ports": ports, "port": port}))
        for key in POST_ONLY:
            if key in block.model_fields_set:
                found.append(((port, key), N_("'{key}' is a setting of the whole post; write it "
                                              "under the post's 'limits:', not under one port"),
                              {"key": key}))
    return found
