"""What ``kgan serve``'s explorer makes: grids from a seed, walks, saved files and projections.

Flask-free: the web layer (``kgan.serve.app``) turns requests into the dataclasses here and the
results into responses. Every picture is drawn by the same code as the command that would make
it (``kgan sample``, ``video``, ``project``), and each result carries that command, so what a
person sees on the page can be made again from a terminal.

Generators are loaded on first use, kept for the next request (at most ``max_generators``), and
reloaded when the run has written a newer checkpoint.
"""

from __future__ import annotations

import base64
import hashlib
import shlex
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kgan.errors import DataError, OptionError, RunError
from kgan.files import write_bytes_atomic
from kgan.images.pictures import png_bytes
from kgan.runs import Run
from kgan.tools.generator import GeneratorSource
from kgan.tools.latents import check_truncation, load_latents, save_latents, truncate

MAX_GRID_IMAGES = 256
WALK_FRAMES_PER_KEY = 8  # frames of the preview strip from one chosen image to the next
EXPLORE_FOLDER = "explore"  # inside a run: the latents and uploads the explorer keeps


@dataclass(frozen=True)
class GridRequest:
    """A grid as ``kgan sample`` draws it: seed, count, class, truncation, plus InfoGAN codes set by hand."""

    seed: int = 0
    count: int = 64
    label: str | None = None
    truncation: float | None = None
    codes: tuple[tuple[int, float], ...] = ()  # (code, setting) pairs

    def check(self) -> None:
        if not 0 <= self.seed < 2**32:
            raise OptionError(f"seed must be from 0 to {2**32 - 1}, not {self.seed}")
        if not 1 <= self.count <= MAX_GRID_IMAGES:
            raise OptionError(f"a grid holds 1 to {MAX_GRID_IMAGES} images, not {self.count}")
        check_truncation(self.truncation)


@dataclass(frozen=True)
class Key:
    """One picture a walk passes through: image ``index`` of a grid, or a saved latent file."""

    grid: GridRequest | None = None
    index: int = 0
    latent: Path | None = None  # inside the run folder


@dataclass
class Picture:
    """Pictures made for a page, and the terminal command that makes the same file."""

    images: list[bytes]  # PNG files
    command: str
    step: int | None
    extra: dict[str, Any] = field(default_factory=dict)


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


class Explorer:
    """Generators kept loaded, and everything the explore page asks of them."""

    def __init__(self, runs_dir: Path, max_generators: int = 3, project_steps: int = 300):
        self.runs_dir = runs_dir
        self.max_generators = max_generators
        self.project_steps = project_steps
        self._sources: OrderedDict[Path, GeneratorSource] = OrderedDict()
        self._lock = threading.RLock()  # one generation at a time: two cores gain nothing from more

    # The generators.

    def source(self, run: Run) -> GeneratorSource:
        """The run's newest G (its moving average where kept), loaded once and kept."""
        from kgan.tools.generator import load_generator_source

        latest = run.latest_checkpoint()
        if latest is None:
            raise RunError(f"run {run.name} has no checkpoint yet; it will have one after its first save")
        with self._lock:
            source = self._sources.get(run.path)
            if source is None or source.checkpoint != latest.path:
                source = load_generator_source(str(latest.path), self.runs_dir)
                self._sources[run.path] = source
            self._sources.move_to_end(run.path)
            while len(self._sources) > self.max_generators:
                self._sources.popitem(last=False)
            return source

    def loaded(self) -> list[str]:
        """Names of the runs whose generators are in memory, least recently used first."""
        return [path.name for path in self._sources]

    def describe(self, run: Run) -> dict[str, Any]:
        """What the explore page needs to draw its controls."""
        source = self.source(run)
        config = run.config()
        return {
            "step": source.step,
            "moving_average": source.uses_ema,
            "resolution": config.model.resolution,
            "channels": config.model.channels,
            "latent_dim": source.latent_dim,
            "classes": list(source.condition.class_names),
            "codes": source.condition.code_controls(),
            "project_steps": self.project_steps,
        }

    # Generator inputs.

    def grid_inputs(self, source: GeneratorSource, request: GridRequest) -> np.ndarray:
        """The inputs of ``kgan sample --seed S -n N [--label L]``, with codes set by hand applied
        (truncation is applied when drawing, as ``kgan sample`` does)."""
        from kgan.tools.sample import sample_inputs

        request.check()
        inputs, _ = sample_inputs(source, request.count, request.seed, request.label)
        condition = source.condition
        if request.codes:
            noise, codes = inputs[:, : source.latent_dim], inputs[:, source.latent_dim :]
            for code, setting in request.codes:
                value = condition.code_value(code, setting)
                codes = condition.with_code(codes, code, np.tile(value, (len(codes), 1)))
            inputs = np.concatenate([noise, codes], axis=1).astype(np.float32)
        return inputs

    def key_inputs(self, source: GeneratorSource, keys: list[Key]) -> np.ndarray:
        """One generator input per key, untruncated."""
        rows = []
        for key in keys:
            if key.latent is not None:
                rows.append(load_latents([key.latent], source.input_size)[:1])
            else:
                assert key.grid is not None
                if not 0 <= key.index < key.grid.count:
                    raise OptionError(f"image {key.index} is not in a grid of {key.grid.count}")
                rows.append(self.grid_inputs(source, key.grid)[key.index : key.index + 1])
        return np.concatenate(rows).astype(np.float32)

    def draw(self, source: GeneratorSource, inputs: np.ndarray, truncation: float | None) -> np.ndarray:
        with self._lock:
            return source.images(truncate(inputs, source.latent_dim, truncation))

    # What the page asks for.

    def grid(self, run: Run, request: GridRequest) -> Picture:
        """Each image of the grid as a PNG, and the command that writes the same images."""
        source = self.source(run)
        images = self.draw(source, self.grid_inputs(source, request), request.truncation)
        command = None if request.codes else sample_command(self.runs_dir, run, request)
        return Picture([png_bytes(image) for image in images], command or "", source.step)

    def save_grid(self, run: Run, request: GridRequest) -> Picture:
        """Write the grid into the run's generated/ as ``kgan sample`` does; codes set by hand go
        through a saved latent file, which ``kgan sample --latents`` draws again."""
        from kgan.tools.sample import write_samples

        source = self.source(run)
        if request.codes:
            latent = self.keep_latents(run, self.grid_inputs(source, request))
            with self._lock:
                result = write_samples(source, request.count, latents=[latent], truncation=request.truncation)
            command = kgan_command(self.runs_dir, "sample", "--run", run.name, "--latents", str(latent),
                                   *_truncation_args(request.truncation))  # fmt: skip
        else:
            with self._lock:
                result = write_samples(source, request.count, request.seed, label=request.label,
                                       truncation=request.truncation)  # fmt: skip
            command = sample_command(self.runs_dir, run, request)
        grid = result.grid.read_bytes()
        return Picture([grid], command, source.step, {"folder": _inside(run, result.folder)})

    def walk(self, run: Run, keys: list[Key], truncation: float | None) -> Picture:
        """A preview of the walk through ``keys``: WALK_FRAMES_PER_KEY frames from each to the next,
        looping back to the first, as the frames of ``kgan video --latents`` run."""
        from kgan.tools.video import walk_through

        check_truncation(truncation)
        if len(keys) < 2:
            raise OptionError("a walk needs at least two pictures; choose two or more")
        source = self.source(run)
        inputs = walk_through(self.key_inputs(source, keys), len(keys) * WALK_FRAMES_PER_KEY, source.latent_dim)
        images = self.draw(source, inputs, truncation)
        return Picture([png_bytes(image) for image in images], "", source.step)

    def save_video(self, run: Run, keys: list[Key], truncation: float | None) -> Picture:
        """The walk as ``kgan video --latents A --latents B ...`` writes it, into the run's videos/."""
        from kgan.tools.video import VideoRequest, make_video

        check_truncation(truncation)
        if len(keys) < 2:
            raise OptionError("a walk needs at least two pictures; choose two or more")
        source = self.source(run)
        latents = [self.keep_latents(run, row[None]) for row in self.key_inputs(source, keys)]
        request = VideoRequest(
            run_path=str(source.checkpoint), runs_dir=self.runs_dir, latents=tuple(latents), truncation=truncation
        )
        with self._lock:
            result, _ = make_video(request)
        args = ["video", "--run", run.name]
        for latent in latents:
            args += ["--latents", str(latent)]
        command = kgan_command(self.runs_dir, *args, *_truncation_args(truncation))
        return Picture([], command, source.step, {"video": _inside(run, result.path), "frames": result.frames})

    def save_timelapse(self, run: Run) -> Picture:
        """The training time-lapse as ``kgan video --timelapse`` writes it (no generator needed)."""
        from kgan.tools.video import VideoRequest, make_video

        result, _ = make_video(VideoRequest(run_path=str(run.path), runs_dir=self.runs_dir, timelapse=True))
        command = kgan_command(self.runs_dir, "video", "--run", run.name, "--timelapse")
        return Picture([], command, None, {"video": _inside(run, result.path), "frames": result.frames})

    def keep_latents(self, run: Run, inputs: np.ndarray) -> Path:
        """Save generator inputs in the run's explore/latents/, named by their content."""
        data = np.ascontiguousarray(inputs, dtype=np.float32)
        name = hashlib.sha256(data.tobytes() + str(data.shape).encode()).hexdigest()[:16]
        path = run.path / EXPLORE_FOLDER / "latents" / f"{name}.npy"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            save_latents(path, data)
        return path

    def project_upload(self, run: Run, data: bytes, filename: str) -> Picture:
        """Keep an uploaded picture in the run's explore/uploads/ and project it as ``kgan project``
        does; a file that is not a usable image is refused before any work."""
        from kgan.images.folders import prepare_image
        from kgan.tools.project import ProjectSettings, project_files

        suffix = Path(filename).suffix.lower()
        if not suffix or len(suffix) > 6 or not suffix[1:].isalnum():
            suffix = ".img"
        path = run.path / EXPLORE_FOLDER / "uploads" / f"{hashlib.sha256(data).hexdigest()[:16]}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, data)
        config = run.config()
        try:
            prepare_image(path, config.model.resolution, config.model.channels)  # the careful reader
        except DataError as error:
            path.unlink(missing_ok=True)
            raise DataError(str(error).replace(str(path), Path(filename).name or "the upload")) from None
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        source = self.source(run)
        settings = ProjectSettings(steps=self.project_steps)
        with self._lock:
            done, failed = project_files(source, [path], settings, run.new_numbered_folder("projected"))
        if failed:
            raise OptionError(failed[0])
        ((projection, files),) = done
        args = ["project", str(path), "--run", run.name]
        if settings.steps != ProjectSettings.steps:
            args += ["--steps", str(settings.steps)]
        extra = {
            "latent": _inside(run, files.latent),
            "comparison": _inside(run, files.comparison),
            "psnr": round(projection.psnr, 2),
            "target": data_url(png_bytes(projection.target)),
        }
        return Picture([png_bytes(projection.reconstruction)], kgan_command(self.runs_dir, *args), source.step, extra)


def sample_command(runs_dir: Path, run: Run, request: GridRequest) -> str:
    args = ["sample", "--run", run.name, "--seed", str(request.seed), "-n", str(request.count)]
    if request.label is not None:
        args += ["--label", request.label]
    return kgan_command(runs_dir, *args, *_truncation_args(request.truncation))


def kgan_command(runs_dir: Path, *args: str) -> str:
    """The command line, with --runs-dir where the server's is not the default."""
    if Path(runs_dir) != Path("runs"):
        args = (*args, "--runs-dir", str(runs_dir))
    return shlex.join(["kgan", *args])


def _truncation_args(truncation: float | None) -> list[str]:
    return ["--truncation", f"{truncation:g}"] if truncation is not None else []


def _inside(run: Run, path: Path) -> str:
    """A path inside the run folder, relative to it, with forward slashes (for /files/ links)."""
    return Path(path).resolve().relative_to(run.path.resolve()).as_posix()
