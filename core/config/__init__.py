"""Device profiles: validated TOML files naming the devices of one bench.

``virtual`` is built in (the default); real benches live as ``<name>.toml`` in the user's
config directory (``PSFBENCH_CONFIG_DIR`` overrides it). See docs/devices.md.
"""

from psfbench.core.config.profiles import (
    EXAMPLE_REAL_TOML,
    CameraProfile,
    ConfigError,
    FocusProfile,
    LensProfile,
    Profile,
    ProjectorProfile,
    SensorProfile,
    available_profiles,
    config_dir,
    load_profile,
)

__all__ = [
    "EXAMPLE_REAL_TOML",
    "CameraProfile",
    "ConfigError",
    "FocusProfile",
    "LensProfile",
    "Profile",
    "ProjectorProfile",
    "SensorProfile",
    "available_profiles",
    "config_dir",
    "load_profile",
]
