"""How training reports progress: the per-step status, the Reporter that receives it, and the console.

The loop never prints: it hands messages and a ``TrainStatus`` per step to a
``Reporter``. ``ConsoleReporter`` is the one the command line uses: messages as
lines, the status in place on a terminal or every few seconds into a pipe.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Protocol, TextIO


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
    # Variant figures: "w_distance" (WGAN-GP's Wasserstein estimate), "info_loss" (InfoGAN), "r1" (R1 penalty).
    extras: dict[str, float] = field(default_factory=dict)
    # The augmentation D sees, when it is on (such as "translation,color").
    augment: str = ""


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


PIPE_INTERVAL_SECONDS = 10.0
TERMINAL_INTERVAL_SECONDS = 0.2
# Short labels for the variants' figures: the Wasserstein estimate and InfoGAN's information loss.
EXTRA_LABELS = {"w_distance": "W", "info_loss": "I", "r1": "R1"}


def format_status(status: TrainStatus) -> str:
    """The fixed-format status line for one training step."""
    step = f"{status.step:,}" + (f"/{status.total_steps:,}" if status.total_steps else "")
    extras = "".join(f"{EXTRA_LABELS.get(name, name)} {value:.3f}  " for name, value in status.extras.items())
    if status.augment:
        extras += "aug " + "+".join(policy[0] for policy in status.augment.split(",")) + "  "
    return (
        f"step {step}  epoch {status.epoch:.2f}  "
        f"D {status.d_loss:.3f}  G {status.g_loss:.3f}  "
        f"D(x) {status.d_real:.2f}  D(G(z)) {status.d_fake:.2f}  {extras}"
        f"{status.images_per_second:,.0f} img/s  {format_elapsed(status.elapsed_seconds)}"
    )


class ConsoleReporter:
    """Prints messages as lines and the status in place (terminal) or every few seconds (pipe)."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False):
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.in_place = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_shown = -float("inf")
        self._pending: TrainStatus | None = None
        self._line_open = False

    def message(self, text: str) -> None:
        if self.quiet:
            return
        self._close_line()
        print(text, file=self.stream, flush=True)

    def status(self, status: TrainStatus) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        interval = TERMINAL_INTERVAL_SECONDS if self.in_place else PIPE_INTERVAL_SECONDS
        first = self._last_shown == -float("inf")
        if not first and now - self._last_shown < interval:
            self._pending = status
            return
        self._show(status)
        self._last_shown = now

    def finish(self) -> None:
        """Show the last status if it was held back, and end the status line."""
        if self._pending is not None and not self.quiet:
            self._show(self._pending)
        self._close_line()

    def _show(self, status: TrainStatus) -> None:
        self._pending = None
        line = format_status(status)
        if self.in_place:
            self.stream.write("\r\033[K" + line)
            self.stream.flush()
            self._line_open = True
        else:
            print(line, file=self.stream, flush=True)

    def _close_line(self) -> None:
        if self._line_open:
            self.stream.write("\n")
            self.stream.flush()
            self._line_open = False
