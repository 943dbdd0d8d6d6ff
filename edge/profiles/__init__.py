"""Device profiles: per-model topic and payload mappings, loaded from ``device_profiles/``."""

from edge.profiles.loader import ProfileRegistry, load_registry, profile_files
from edge.profiles.model import (
    AudioSpec,
    CommandSpec,
    FieldSpec,
    MessageSpec,
    PortsMode,
    PortsSpec,
    Profile,
    ProfileKind,
    SpeakerCapability,
)

__all__ = [
    "AudioSpec",
    "CommandSpec",
    "FieldSpec",
    "MessageSpec",
    "PortsMode",
    "PortsSpec",
    "Profile",
    "ProfileKind",
    "ProfileRegistry",
    "SpeakerCapability",
    "load_registry",
    "profile_files",
]
