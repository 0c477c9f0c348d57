"""Per-user GUI settings: one validated JSON file that never blocks start-up.

Stored in ``platformdirs.user_config_dir("psfbench")/gui.json`` (``PSFBENCH_GUI_SETTINGS``
overrides the path, e.g. for tests). Loading validates every key with pydantic: an unknown
key or a bad value is dropped with a logged warning and its default used (gui-anchors C9), so
a settings file written by another version or edited by hand never stops the application.
``psfbench-gui --reset-settings`` deletes the file. Writes go through a temporary file and a
rename, so a crash mid-write leaves the previous settings intact.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

log = logging.getLogger(__name__)

ENV_PATH = "PSFBENCH_GUI_SETTINGS"


class GuiSettings(BaseModel):
    """Everything the GUI remembers between runs. Add fields with defaults only."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    theme: Literal["light", "dark"] = "light"
    profile: str = "virtual"
    #: QMainWindow.saveGeometry / saveState, base64; restored only onto an existing screen
    geometry: str = ""
    window_state: str = ""
    #: the screen the window was on (name) and its rectangle, to check before restoring
    screen_name: str = ""
    window_rect: tuple[int, int, int, int] | None = None
    sessions_dir: str = ""
    recent_sessions: list[str] = Field(default_factory=list)
    #: live view auto-contrast percentiles (low, high)
    contrast_percentiles: tuple[float, float] = (0.5, 99.5)
    jog_steps: tuple[int, int, int] = (10, 100, 1000)
    #: a panel's own small state, by panel name (validated by the panel)
    panels: dict[str, dict[str, Any]] = Field(default_factory=dict)


def settings_path() -> Path:
    env = os.environ.get(ENV_PATH)
    if env:
        return Path(env)
    from platformdirs import user_config_dir

    return Path(user_config_dir("psfbench")) / "gui.json"


def load_settings(path: Path | None = None) -> GuiSettings:
    """The saved settings, good keys only (bad ones dropped with a warning); defaults when the
    file is missing or unreadable."""
    p = path or settings_path()
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return GuiSettings()
    except (OSError, ValueError) as exc:
        log.warning("%s: unreadable settings, using defaults (%s)", p, exc)
        return GuiSettings()
    if not isinstance(raw, dict):
        log.warning("%s: settings are not a JSON object, using defaults", p)
        return GuiSettings()
    good: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in GuiSettings.model_fields:
            log.warning("%s: unknown setting %r dropped", p, key)
            continue
        try:
            GuiSettings.model_validate({key: value})
        except ValidationError as exc:
            msg = exc.errors()[0].get("msg", "invalid")
            log.warning("%s: setting %r dropped (%s)", p, key, msg)
            continue
        good[key] = value
    return GuiSettings.model_validate(good)


def save_settings(settings: GuiSettings, path: Path | None = None) -> None:
    """Write atomically; an error is logged, never raised (settings must not break exit)."""
    p = path or settings_path()
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text(json.dumps(settings.model_dump(mode="json"), indent=2), encoding="utf-8")
        tmp.replace(p)
    except OSError as exc:
        log.warning("%s: cannot save settings (%s)", p, exc)


def reset_settings(path: Path | None = None) -> bool:
    """Delete the settings file; True if there was one."""
    p = path or settings_path()
    try:
        p.unlink()
        return True
    except FileNotFoundError:
        return False
