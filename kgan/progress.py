"""How training reports progress: the per-step status and the Reporter that receives it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class TrainStatus:
    """A snapshot of training, reported after every step."""

    step: int
    total_steps: int | None
    epoch: float
    d_loss: float
    g_loss: float
    d_real: float
    d_fake: float
    images_per_second: float
    elapsed_seconds: float
    # Variant figures: "w_distance" (WGAN-GP's Wasserstein estimate), "info_loss" (InfoGAN).
    extras: dict[str, float] = field(default_factory=dict)


class Reporter(Protocol):
    """Where the loop sends news: one-off messages and per-step status."""

    def message(self, text: str) -> None: ...

    def status(self, status: TrainStatus) -> None: ...


class SilentReporter:
    """A reporter that ignores everything (the default for library callers)."""

    def message(self, text: str) -> None:
        pass

    def status(self, status: TrainStatus) -> None:
        pass


def format_elapsed(seconds: float) -> str:
    """Seconds as HH:MM:SS (hours keep counting past 99)."""
    seconds = max(0, int(seconds))
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
