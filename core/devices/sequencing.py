"""Pairing each sweep trigger with exactly one fresh frame.

Users' most common data-integrity complaint about camera software is a frame that belongs to
the previous position (a leftover buffer) or a silently skipped one. A sweep therefore drains
the camera before each trigger and checks that the frame it gets is the next frame id: a
repeated or older id is a :class:`StaleFrameError`, a jump is :class:`FrameLost`.
"""

from __future__ import annotations

from psfbench.core.devices.protocols import Camera, Frame, FrameLost, StaleFrameError


class FrameSequencer:
    """Frame-id bookkeeping for one stream; ``arm()`` before each trigger, ``check()`` after."""

    def __init__(self, camera: Camera) -> None:
        self.camera = camera
        self.last_id: int | None = None
        self.stale_discarded = 0

    def arm(self) -> int:
        """Drop anything already waiting; those frames predate the coming trigger."""
        n = self.camera.drain()
        self.stale_discarded += n
        if n and self.last_id is not None:
            self.last_id += n  # the camera numbered them; the next fresh one follows them
        return n

    def check(self, frame: Frame) -> Frame:
        if self.last_id is not None:
            expected = self.last_id + 1
            if frame.frame_id < expected:
                raise StaleFrameError(
                    f"frame {frame.frame_id} is stale: frame {expected} was expected "
                    "(a buffer from an earlier trigger was delivered again)"
                )
            if frame.frame_id > expected:
                self.last_id = frame.frame_id
                raise FrameLost(
                    f"frames {expected}..{frame.frame_id - 1} never arrived "
                    f"(got frame {frame.frame_id})"
                )
        self.last_id = frame.frame_id
        return frame

    def next_frame(self, timeout_s: float = 5.0) -> Frame:
        """The next frame, checked; a failed buffer's id is recorded before re-raising so the
        good frame after it is not reported lost as well."""
        try:
            frame = self.camera.retrieve(timeout_s)
        except FrameLost as exc:
            if exc.frame_id is not None and (self.last_id is None or exc.frame_id > self.last_id):
                self.last_id = exc.frame_id
            raise
        return self.check(frame)
