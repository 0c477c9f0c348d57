"""Fringe-projection profilometry: patterns, phase, unwrapping, procam calibration, depth.

Submodules are imported on demand (``from psfbench.core.fringe.phase import wrapped_phase``) so that
importing the package stays cheap. See docs/fringe.md for the conventions.
"""
