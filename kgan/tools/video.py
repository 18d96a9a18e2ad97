"""Videos: a smooth looping walk through latent space, and the training time-lapse.

MP4 (and MOV, MKV, WebM) go through ffmpeg from imageio-ffmpeg; a name ending
in .gif gives an animated GIF written by Pillow.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from kgan.errors import OptionError, RunError
from kgan.files import Numbered, publish_file
from kgan.images.pictures import make_grid, to_pil
from kgan.random_streams import Stream, noise_for_seed, stream
from kgan.reporting import format_elapsed
from kgan.runs import Run, resolve_checkpoint, sample_step
from kgan.tools.generator import GeneratorSource, load_generator_source
from kgan.tools.latents import load_latents, truncate
from kgan.tools.sample import random_codes

FFMPEG_FORMATS = (".mp4", ".mov", ".mkv", ".webm")
VIDEO_FORMATS = FFMPEG_FORMATS + (".gif",)
# ffmpeg's H.264 encoder wants frame sides divisible by 16.
MACRO_BLOCK = 16
FRAMES_PER_KEYPOINT = 45


@dataclass
class VideoResult:
    """The file written and how it was made."""

    path: Path
    frames: int
    fps: float
    size: tuple[int, int]


def check_video_path(path: Path) -> None:
    """Raise OptionError unless the extension names a format kgan writes."""
    if path.suffix.lower() not in VIDEO_FORMATS:
        raise OptionError(f"cannot write {path.name}: use a name ending in {', '.join(VIDEO_FORMATS)}")


def slerp(start: np.ndarray, end: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation between rows of ``start`` and ``end`` (linear where they are parallel)."""
    unit_start = start / np.linalg.norm(start, axis=-1, keepdims=True)
    unit_end = end / np.linalg.norm(end, axis=-1, keepdims=True)
    cosine = np.clip(np.sum(unit_start * unit_end, axis=-1, keepdims=True), -1.0, 1.0)
    omega = np.arccos(cosine)
    sine = np.sin(omega)
    parallel = sine < 1e-6
    safe_sine = np.where(parallel, 1.0, sine)
    spherical = (np.sin((1 - t) * omega) * start + np.sin(t * omega) * end) / safe_sine
    return np.where(parallel, (1 - t) * start + t * end, spherical)


def latent_walk(seed: int, frames: int, latent_dim: int, walks: int = 1) -> np.ndarray:
    """Noise of shape (frames, walks, latent_dim) that loops back to its first frame.

    Random key points are visited in turn (a new one about every 45 frames).
    """
    keypoints = max(2, round(frames / FRAMES_PER_KEYPOINT))
    keys = stream(seed, Stream.VIDEO_WALK).standard_normal((keypoints, walks, latent_dim))
    return walk_through(keys, frames, latent_dim)


def walk_through(keys: np.ndarray, frames: int, latent_dim: int) -> np.ndarray:
    """Generator inputs (frames, walks, size) visiting ``keys`` (K, walks, size) in turn and looping back.

    Neighbouring keys are joined by spherical interpolation of the noise (the first ``latent_dim``
    numbers) and straight lines between the codes, eased so the motion has no jolts. Key k is
    shown exactly, at frame k * frames / K, wherever that is a whole number.
    """
    count = len(keys)
    path = np.empty((frames, *keys.shape[1:]), dtype=np.float32)
    for frame in range(frames):
        position = frame * count / frames
        index = int(position)
        fraction = position - index
        start, end = keys[index], keys[(index + 1) % count]
        if fraction == 0:
            path[frame] = start
            continue
        eased = fraction * fraction * (3 - 2 * fraction)
        path[frame, ..., :latent_dim] = slerp(start[..., :latent_dim], end[..., :latent_dim], eased)
        path[frame, ..., latent_dim:] = (1 - eased) * start[..., latent_dim:] + eased * end[..., latent_dim:]
    return path


def _canvas_side(size: int) -> int:
    return max(MACRO_BLOCK, int(math.ceil(size / MACRO_BLOCK)) * MACRO_BLOCK)


def _fit(image: np.ndarray, width: int, height: int) -> Image.Image:
    """Scale an image to fit inside width x height, centred on black, as RGB."""
    picture = to_pil(image).convert("RGB")
    scale = min(width / picture.width, height / picture.height)
    resized = picture.resize(
        (max(1, round(picture.width * scale)), max(1, round(picture.height * scale))),
        Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC,
    )
    canvas = Image.new("RGB", (width, height))
    canvas.paste(resized, ((width - resized.width) // 2, (height - resized.height) // 2))
    return canvas


def write_video(target: Path | Numbered, frames: Iterable[Image.Image], fps: float) -> tuple[Path, int]:
    """Write RGB frames to ``target`` (format from its extension), whole or not at all;
    returns the path written and the frame count."""
    suffix = target.suffix if isinstance(target, Numbered) else Path(target).suffix
    check_video_path(Path(f"video{suffix}"))
    if suffix.lower() == ".gif":
        return publish_file(target, lambda path: _write_gif(path, frames, fps))
    return publish_file(target, lambda path: _write_ffmpeg(path, frames, fps))


def _write_gif(path: Path, frames: Iterable[Image.Image], fps: float) -> int:
    # Pillow stores identical neighbouring frames as one longer frame; the
    # playing time is the same.
    pictures = list(frames)
    pictures[0].save(
        path,
        save_all=True,
        append_images=pictures[1:],
        duration=max(20, round(1000 / fps)),
        loop=0,
        optimize=False,
    )
    return len(pictures)


def _write_ffmpeg(path: Path, frames: Iterable[Image.Image], fps: float) -> int:
    import imageio.v2 as imageio

    try:
        writer = imageio.get_writer(
            path,
            format="FFMPEG",
            mode="I",
            fps=fps,
            codec=None,
            quality=8,
            macro_block_size=MACRO_BLOCK,
            ffmpeg_log_level="error",
        )
    except (ImportError, RuntimeError, OSError) as error:
        raise RunError(
            f"cannot write a {path.suffix} video: ffmpeg is unavailable ({error}); name the output .gif instead"
        ) from None
    count = 0
    try:
        try:
            for frame in frames:
                writer.append_data(np.asarray(frame))
                count += 1
        finally:
            writer.close()
    except RuntimeError as error:  # ffmpeg stopped, e.g. on a full disk
        raise OSError(str(error).strip().splitlines()[0] if str(error).strip() else "ffmpeg failed") from None
    return count


def walk_inputs(source: GeneratorSource, frames: int, seed: int, cells: int, label: str | None) -> np.ndarray:
    """Generator inputs (frames, cells, input size): each cell walks through noise; its codes stay put."""
    walk = latent_walk(seed, frames, source.latent_dim, walks=cells)
    if label is not None:
        codes = np.tile(source.condition.label_codes(label), (cells, 1))
    else:
        codes = random_codes(source, seed, cells)
    return np.concatenate([walk, np.broadcast_to(codes, (frames, *codes.shape))], axis=-1)


def sweep_inputs(source: GeneratorSource, frames: int, seed: int, cells: int, code: int) -> np.ndarray:
    """Generator inputs (frames, cells, input size): fixed noise, one InfoGAN code swept in a loop.

    A continuous code swings between -2 and 2; the categorical code blends
    from each category into the next.
    """
    condition = source.condition
    condition.sweep_values(code)  # checks the run has this code before anything is drawn
    noise = noise_for_seed(seed, cells, source.latent_dim)
    base = random_codes(source, seed, cells)
    inputs = np.empty((frames, cells, source.latent_dim + condition.code_size), dtype=np.float32)
    for frame in range(frames):
        value = condition.sweep_value_at(code, frame / frames)
        codes = condition.with_code(base, code, np.broadcast_to(value, (cells, len(value))))
        inputs[frame] = np.concatenate([noise, codes], axis=1)
    return inputs


def frames_from_inputs(source: GeneratorSource, inputs: np.ndarray, size: int, grid: int) -> Iterator[Image.Image]:
    """Video frames from generator inputs (frames, grid * grid, input size), a batch at a time."""
    side = _canvas_side(size)
    frames, cells = inputs.shape[:2]
    batch_frames = max(1, 256 // cells)
    for start in range(0, frames, batch_frames):
        chunk = inputs[start : start + batch_frames]
        images = source.images(chunk.reshape(-1, chunk.shape[-1]))
        for frame_images in images.reshape(len(chunk), cells, *images.shape[1:]):
            picture = frame_images[0] if grid == 1 else make_grid(frame_images, columns=grid)
            yield _fit(picture, side, side)


def make_walk_video(
    source: GeneratorSource,
    out: Path | Numbered,
    frames: int,
    fps: float,
    size: int,
    seed: int,
    grid: int = 1,
    label: str | None = None,
    sweep_code: int | None = None,
    truncation: float | None = None,
    keys: np.ndarray | None = None,
) -> VideoResult:
    """Write a looping video of exactly ``frames`` frames: a latent walk, a sweep of one code, or a
    walk through given generator inputs (``keys``, N x input size, such as projected pictures)."""
    _check_common(frames, fps, size)
    if grid < 1:
        raise OptionError(f"--grid must be at least 1, not {grid}")
    if label is not None and sweep_code is not None:
        raise OptionError("give --label or --sweep-code, not both")
    cells = grid * grid
    if keys is not None:
        if grid != 1 or label is not None or sweep_code is not None:
            raise OptionError(
                "a walk through given pictures or latents is one walk: drop --grid, --label, --sweep-code"
            )
        inputs = walk_through(keys[:, None, :], frames, source.latent_dim)
    elif sweep_code is not None:
        inputs = sweep_inputs(source, frames, seed, cells, sweep_code)
    else:
        inputs = walk_inputs(source, frames, seed, cells, label)
    inputs = truncate(inputs, source.latent_dim, truncation)
    path, written = write_video(out, frames_from_inputs(source, inputs, size, grid), fps)
    side = _canvas_side(size)
    return VideoResult(path=path, frames=written, fps=fps, size=(side, side))


def _check_common(frames: int, fps: float, size: int) -> None:
    if frames < 1:
        raise OptionError(f"--frames must be at least 1, not {frames}")
    if not fps > 0:
        raise OptionError(f"--fps must be positive, not {fps}")
    if not 16 <= size <= 4096:
        raise OptionError(f"--size must be between 16 and 4096 pixels, not {size}")


def _font(height: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=height)
    except TypeError:  # Pillow without FreeType
        return ImageFont.load_default()


def _caption_height(side: int) -> int:
    return _canvas_side(max(MACRO_BLOCK, side // 12))


def timelapse_frames(grids: list[Path], size: int, elapsed: dict[int, float]) -> Iterator[Image.Image]:
    """Each training sample grid, scaled, with its step and elapsed time beneath it."""
    side = _canvas_side(size)
    bar = _caption_height(side)
    font = _font(int(bar * 0.6))
    for path in grids:
        try:
            with Image.open(path) as opened:
                image = np.asarray(opened.convert("RGB"))
        except OSError:
            raise RunError(f"{path} is damaged and cannot be read") from None
        step = sample_step(path)
        label = f"step {step:,}" + (f"   {format_elapsed(elapsed[step])}" if step in elapsed else "")
        canvas = Image.new("RGB", (side, side + bar))
        canvas.paste(_fit(image, side, side), (0, 0))
        ImageDraw.Draw(canvas).text((side // 2, side + bar // 2), label, fill=(235, 235, 235), font=font, anchor="mm")
        yield canvas


def optimisation_video(projection: Any, path: Path, fps: float = 15.0, size: int = 256) -> Path:
    """A short clip of a projection: the target beside the picture the optimisation had reached."""
    side = _canvas_side(size)

    def frames() -> Iterator[Image.Image]:
        for snapshot in projection.snapshots:
            pair = make_grid(np.stack([projection.target, snapshot]), columns=2)
            yield _fit(pair, 2 * side, side)

    written, _ = write_video(path, frames(), fps)
    return written


def make_timelapse_video(run: Run, out: Path | Numbered, fps: float, size: int) -> VideoResult:
    """Stitch a run's sample grids in step order, with the elapsed training time on each."""
    grids = run.sample_grids()
    if not grids:
        raise RunError(f"run {run.path} has no sample grids in {run.samples_dir}")
    _check_common(len(grids), fps, size)
    path, written = write_video(out, timelapse_frames(grids, size, run.elapsed_by_step()), fps)
    side = _canvas_side(size)
    return VideoResult(path=path, frames=written, fps=fps, size=(side, side + _caption_height(side)))


@dataclass(frozen=True)
class VideoRequest:
    """What ``kgan video`` was asked for; None where the command's defaults apply."""

    run_path: str | None
    runs_dir: Path
    out: Path | None = None
    frames: int = 300
    frames_given: bool = False
    fps: float | None = None
    size: int = 256
    grid: int = 1
    seed: int | None = None
    timelapse: bool = False
    label: str | None = None
    sweep_code: int | None = None
    ema: bool = True
    truncation: float | None = None
    latents: tuple[Path, ...] = ()  # walk through these saved generator inputs
    between: tuple[Path, ...] = ()  # walk through these pictures (projected, or .npy latents)


def make_video(request: VideoRequest) -> tuple[VideoResult, str | None]:
    """Write the video a ``VideoRequest`` asks for; returns it and, for a walk, where G came from."""
    if request.out is not None:
        check_video_path(request.out)
    if request.timelapse:
        if request.frames_given:
            raise OptionError("--frames does not apply to --timelapse (it uses one frame per sample grid)")
        if request.label is not None or request.sweep_code is not None or request.latents or request.between:
            raise OptionError("--label, --sweep-code, --latents and --between do not apply to --timelapse")
        run, _ = resolve_checkpoint(request.run_path, request.runs_dir)
        if run is None:
            raise OptionError("--timelapse needs a run folder, not a lone .keras file")
        out = request.out or Numbered(run.path / "videos", "timelapse", ".mp4")
        return make_timelapse_video(run, out, request.fps or 8.0, request.size), None
    source = load_generator_source(request.run_path, request.runs_dir, ema=request.ema)
    out = request.out
    if out is None:
        if source.run is None:
            raise OptionError("a lone .keras file has no run folder to write into; pass --out")
        stem = "sweep" if request.sweep_code is not None else "between" if request.between else "walk"
        out = Numbered(source.run.path / "videos", stem, ".mp4")
    keys = _walk_keys(source, request)
    if keys is not None and request.seed is not None:
        raise OptionError("--seed does not apply to a walk through given pictures or latents")
    seed = secrets.randbelow(2**31) if request.seed is None else request.seed
    frames = request.frames
    if keys is not None and not request.frames_given:
        frames = len(keys) * FRAMES_PER_KEYPOINT * 2  # about 3 s from one picture to the next
    result = make_walk_video(
        source, out, frames, request.fps or 30.0, request.size, seed, request.grid,
        request.label, request.sweep_code, request.truncation, keys,
    )  # fmt: skip
    origin = f"through {len(keys)} pictures" if keys is not None else f"seed {seed}"
    return result, f"{origin}, from {source.describe()}"


def _walk_keys(source: GeneratorSource, request: VideoRequest) -> np.ndarray | None:
    """The generator inputs a --latents or --between walk visits (None for a random walk)."""
    if request.latents and request.between:
        raise OptionError("give --latents or --between, not both")
    if request.latents:
        keys = load_latents(list(request.latents), source.input_size)
    elif request.between:
        from kgan.tools.project import Projector, ProjectSettings, cached_latent

        pictures = [path for path in request.between if Path(path).suffix.lower() != ".npy"]
        projector = Projector(source, ProjectSettings()) if pictures else None
        rows = []
        for path in request.between:
            if Path(path).suffix.lower() == ".npy":
                rows.append(load_latents([path], source.input_size))
            else:
                rows.append(cached_latent(source, projector, Path(path))[None])
        keys = np.concatenate(rows)
    else:
        return None
    if len(keys) < 2:
        raise OptionError("a walk needs at least two pictures or latents")
    return keys
