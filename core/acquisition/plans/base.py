"""What a plan is: a fixed, numbered list of steps, each producing exactly one stored frame.

Numbering is what makes resume exact: a plan is stored in the session as plain JSON
(``to_dict``), its step ``i`` always means the same motor target / pattern, and the session
knows which indices are on disk, so a resumed run executes precisely the missing indices.
Plans never touch the session or the event bus themselves; they act on devices through a
:class:`StepContext` that the engine provides (abortable sleeps, operator prompts, warnings,
grab retries), which keeps them short and testable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np


class PlanError(ValueError):
    """A plan that cannot run as specified (bad range, unknown kind, ...); message names it."""


@dataclass
class AcquiredFrame:
    """One step's result: the image to store and the record fields that go with it."""

    image: np.ndarray
    fields: dict[str, Any] = field(default_factory=dict)


class StepContext(Protocol):
    """What the engine lends a plan while it runs."""

    @property
    def bench(self) -> Any:
        """A ``psfbench.core.devices.factory.Bench``: ``camera``, ``focus``, ``projector``,
        ``sensor``."""
        ...

    def sleep(self, seconds: float) -> None:
        """Abortable wait of ``seconds`` physical seconds (scaled on a time-scaled bench)."""
        ...

    def checkpoint(self) -> None: ...

    def warn(self, message: str, index: int | None = None) -> None: ...

    def prompt(self, message: str) -> bool:
        """Ask the operator; True when confirmed. Blocks (abortably) until answered."""
        ...

    def grab(self, index: int, retrigger: Callable[[], Any] | None = None) -> Any:
        """One fresh camera frame with the engine's retry policy (``psfbench.core.devices.Frame``).

        While streaming, pass the function that triggers another exposure so that a lost
        or late frame can be retried.
        """
        ...

    def arm(self) -> None:
        """Call right before a hardware trigger (drops stale frames, tracks frame ids)."""
        ...

    def move_to(self, target: int) -> None:
        """Move the focus motor to ``target`` steps; abortable mid-move."""
        ...


@runtime_checkable
class Plan(Protocol):
    kind: ClassVar[str]

    def total_steps(self) -> int: ...

    def to_dict(self) -> dict[str, Any]: ...

    def setup(self, ctx: StepContext) -> None: ...

    def acquire(self, ctx: StepContext, index: int) -> AcquiredFrame: ...

    def teardown(self, ctx: StepContext) -> None: ...


PLAN_KINDS: dict[str, Callable[[Mapping[str, Any]], Plan]] = {}


def register_plan(kind: str, from_dict: Callable[[Mapping[str, Any]], Plan]) -> None:
    PLAN_KINDS[kind] = from_dict


def plan_from_dict(d: Mapping[str, Any]) -> Plan:
    """Rebuild a stored plan (resume); raises PlanError naming the field on bad input."""
    kind = d.get("kind")
    if not isinstance(kind, str) or kind not in PLAN_KINDS:
        known = ", ".join(sorted(PLAN_KINDS))
        raise PlanError(f"plan.kind: unknown plan kind {kind!r} (known: {known})")
    return PLAN_KINDS[kind](d)


def average_frames(images: list[np.ndarray]) -> np.ndarray:
    """Mean of repeated exposures, kept in the camera's integer type (rounded).

    Rounding loses under half a grey level, far below shot noise at any usable exposure, and
    keeps the stored frame at the camera's bit depth so readers need no special case.
    """
    if len(images) == 1:
        return images[0]
    dtype = images[0].dtype
    acc = np.zeros(images[0].shape, dtype=np.float64)
    for im in images:
        acc += im
    acc /= len(images)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(acc), info.min, info.max).astype(dtype)
    return acc.astype(dtype)


def require(d: Mapping[str, Any], key: str, typ: type | tuple[type, ...], where: str) -> Any:
    if key not in d:
        raise PlanError(f"{where}.{key}: missing")
    value = d[key]
    if isinstance(value, bool) and typ is not bool and bool not in _as_tuple(typ):
        raise PlanError(f"{where}.{key}: expected {_typename(typ)}, got {value!r}")
    if not isinstance(value, typ):
        raise PlanError(f"{where}.{key}: expected {_typename(typ)}, got {value!r}")
    return value


def _as_tuple(typ: type | tuple[type, ...]) -> tuple[type, ...]:
    return typ if isinstance(typ, tuple) else (typ,)


def _typename(typ: type | tuple[type, ...]) -> str:
    return " or ".join(t.__name__ for t in _as_tuple(typ))
