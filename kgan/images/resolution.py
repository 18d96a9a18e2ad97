"""Which image sizes the networks can make, and how to pick one for a folder.

A generator starts from a small square of ``base`` pixels and doubles it
``doublings`` times, so a resolution must be ``base * 2**doublings`` with a base
of 4 to 7 and at least two doublings: 16, 20, 24, 28, 32, 40, 48, 56, 64, 80,
96, 112, 128, 160, 192, 224, 256 and so on.
"""

from __future__ import annotations

from collections.abc import Iterable
from statistics import median

MIN_RESOLUTION = 16
MAX_RESOLUTION = 1024
MAX_AUTO_RESOLUTION = 64


def plan_resolution(resolution: int) -> tuple[int, int] | None:
    """Return ``(base, doublings)`` for a resolution, or None when none fits."""
    if not MIN_RESOLUTION <= resolution <= MAX_RESOLUTION:
        return None
    base, doublings = resolution, 0
    while base % 2 == 0 and base > 7:
        base //= 2
        doublings += 1
    if 4 <= base <= 7 and doublings >= 2:
        return base, doublings
    return None


def supported_resolutions(up_to: int = MAX_RESOLUTION) -> list[int]:
    """All resolutions the builders accept, smallest first."""
    return [r for r in range(MIN_RESOLUTION, up_to + 1) if plan_resolution(r)]


def nearest_supported_at_most(size: float) -> int:
    """The largest supported resolution not above ``size`` (never below the minimum)."""
    candidates = [r for r in supported_resolutions() if r <= size]
    return candidates[-1] if candidates else MIN_RESOLUTION


def auto_resolution(shorter_sides: Iterable[int]) -> int:
    """Pick a resolution for images whose shorter sides are given.

    The median shorter side, rounded down to a supported size and capped at 64
    pixels, which trains in minutes on a laptop; ``--resolution`` goes higher.
    """
    sides = list(shorter_sides)
    if not sides:
        return MAX_AUTO_RESOLUTION
    return nearest_supported_at_most(min(median(sides), MAX_AUTO_RESOLUTION))
