"""Parameters of the virtual bench world, validated (they come from profile files).

Defaults follow the paper's bench at half resolution: F = 50 mm, A = 800, e = 23.6 mm, a
3-um-class sensor, a 400 steps/mm focus drive and a 3-um distance sensor. The hidden truth
(``true_A``, ``true_e_mm``) is what a fit of a virtual sweep must recover.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class VirtualBenchSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # scene
    scene: Literal["planes", "tilted", "steps", "objects", "slanted_edges", "chessboard"] = "steps"
    width: int = Field(default=307, ge=16, le=4096)
    height: int = Field(default=257, ge=16, le=4096)
    working_distance_mm: float = Field(default=500.0, gt=60.0)
    seed: int = 0
    #: the ``chessboard`` scene: inner corners (cols, rows) and square size (None: the board
    #: with its margin spans half the frame); its pose changes with ``BenchWorld.set_board_pose``
    board_corners: tuple[int, int] = (9, 7)
    board_square_mm: float | None = Field(default=None, gt=0.0)
    # lens (hidden truth)
    true_A: float = Field(default=800.0, ge=0.0)
    true_e_mm: float = 23.6
    F_mm: float = Field(default=50.0, gt=0.0)
    #: the lens's nominal f-number N (the paper's f/1.4), recorded in sessions for the fit's
    #: datasheet comparison (eq. 6 with a = F/N); the render uses ``true_A``, not N
    f_number: float | None = Field(default=1.4, gt=0.0)
    render_method: Literal["layered", "scatter", "refcode"] = "layered"
    render_device: str | None = None
    # focus drive
    steps_per_mm: float = Field(default=400.0, gt=0.0)
    d_home_mm: float = 27.0
    travel_steps: int = Field(default=4800, gt=0)
    power_on_position_steps: int = Field(default=1234, ge=0)
    speed_steps_per_s: float = Field(default=4000.0, gt=0.0)
    accel_steps_per_s2: float = Field(default=20000.0, gt=0.0)
    homing_speed_steps_per_s: float = Field(default=3000.0, gt=0.0)
    # distance sensor
    sensor_noise_mm: float = Field(default=0.003, ge=0.0)
    # camera
    pixel_size_um: float = Field(default=6.9, gt=0.0)
    camera_fov_deg: float = Field(default=30.0, gt=1.0, lt=170.0)
    full_well_e: float = Field(default=10000.0, gt=0.0)
    read_noise_e: float = Field(default=5.0, ge=0.0)
    noise: bool = True
    exposure_ref_us: float = Field(default=10000.0, gt=0.0)
    max_fps: float = Field(default=95.0, gt=0.0)
    # scene lighting and projector
    ambient: float = Field(default=1.0, ge=0.0)
    projector_gain: float = Field(default=1.0, ge=0.0)
    projector_width: int = Field(default=640, ge=8)
    projector_height: int = Field(default=400, ge=8)
    projector_fov_deg: float = Field(default=45.0, gt=1.0, lt=170.0)
    projector_baseline_mm: float = 150.0
    #: the projector's response: it shows ``level**projector_gamma`` (1 = linear)
    projector_gamma: float = Field(default=1.0, gt=0.0)
    #: a specular ("shiny") patch, (x0, y0, x1, y1) as fractions of the camera frame: there
    #: the surface mirrors ``shiny_gain`` x the projector's light towards the camera, whatever
    #: its albedo (a glint that clips under the projector before the rest of the scene does)
    shiny_patch: tuple[float, float, float, float] | None = None
    shiny_gain: float = Field(default=6.0, ge=0.0)
    # simulated time: wall seconds per simulated second (0.01 = 100x faster than life)
    time_scale: float = Field(default=1.0, gt=0.0)
    # realism beyond the fitted model (robustness studies); all off by default
    psf_shape: Literal["gaussian", "disc"] = "gaussian"
    focus_breathing: float = Field(default=0.0, ge=0.0, le=5.0)
    vignetting: float = Field(default=0.0, ge=0.0, lt=1.0)
    chromatic_A: tuple[float, float, float] = (1.0, 1.0, 1.0)
    #: disc radius per Gaussian sigma (px/px); None: the paper's blur-circle relation
    #: sigma = omega * diameter (radius = sigma / (2 omega)); 2.0: a disc of the *same second
    #: moment* as the Gaussian (per-axis sd = radius / 2), psfbench.core.psfmodels' convention
    disc_radius_per_sigma: float | None = Field(default=None, gt=0.0)
    #: field-varying blur: A is multiplied by 1 + c_x x + c_y y + c_r (x^2 + y^2) / 2 with x, y
    #: in [-1, 1] across the frame (psfbench.core.psfmodels' "field" model)
    field_A: tuple[float, float, float] = (0.0, 0.0, 0.0)
    #: a tilted sensor (focal plane): the lens-sensor distance is d + e + t_x x + t_y y (mm)
    #: with x, y in [-1, 1] across the frame (psfbench.core.psfmodels' "tilt" model)
    sensor_tilt_mm: tuple[float, float] = (0.0, 0.0)
    backlash_steps: float = Field(default=0.0, ge=0.0)
    # test aid: stamp frame id / motor position / trigger count into the first pixel row
    stamp_state: bool = False

    @model_validator(mode="after")
    def _check(self) -> VirtualBenchSettings:
        if self.d_home_mm + self.true_e_mm <= self.F_mm:
            raise ValueError(
                f"d_home_mm + true_e_mm = {self.d_home_mm + self.true_e_mm} mm must exceed F_mm"
            )
        if self.power_on_position_steps > self.travel_steps:
            raise ValueError("power_on_position_steps lies beyond travel_steps")
        if any(c <= 0 for c in self.chromatic_A):
            raise ValueError("chromatic_A factors must be positive")
        if self.shiny_patch is not None:
            x0, y0, x1, y1 = self.shiny_patch
            if not (0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0):
                raise ValueError(
                    "shiny_patch must be (x0, y0, x1, y1) fractions of the frame with "
                    f"0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1, got {self.shiny_patch}"
                )
        return self
