"""The ``kgan`` command line: parse, validate, call the library, print one-line errors.

Heavy modules (TensorFlow, Keras, the models) are imported inside the commands,
so ``kgan --help`` and option errors answer at once.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from kgan import __version__
from kgan.backend import COMPILERS, FUSED_STEPS, FUSED_STEPS_FROM_RUN_STEPS, FUSED_STEPS_UP_TO_PIXELS, PRECISIONS
from kgan.distribute import STRATEGIES
from kgan.errors import KganError, OptionError
from kgan.gan.catalog import ARCHITECTURES, D_FEATURES, D_NORMS, INITS, LOSSES, OPTIMIZERS
from kgan.options import (
    AUTO_EMA_DECAY,
    AUTO_GROW,
    AUTO_GROW_RESOLUTIONS,
    AUTO_LR_COOLDOWN,
    DCGAN_BATCH,
    DEFAULT_ARCH,
    DEFAULT_LEARNING_RATES,
    FAST_ADAM_LEARNING_RATE,
    FAST_ADAM_UP_TO_PIXELS,
    MIRROR_CHOICES,
    SMALL_BATCH,
    SMALL_BATCH_UP_TO_PIXELS,
    WGAN_GP_LEARNING_RATE,
    describe_auto_augment,
    describe_auto_d_norm,
    describe_auto_g_widths,
    describe_auto_init,
    describe_auto_lookahead,
    describe_auto_mirror,
    describe_auto_widths,
)

EXIT_INTERRUPTED = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Choice(click.Choice):
    """A choice whose 'auto' maps to None and numbers to ints."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        value = super().convert(value, param, ctx)
        if value == "auto":
            return None
        return int(value) if str(value).isdigit() else value


class AutoInt(click.ParamType):
    """'auto' (None) or a whole number."""

    def __init__(self, unit: str):
        self.name = f"auto|{unit}"

    def convert(self, value: Any, param: Any, ctx: Any) -> int | None:
        if value is None or isinstance(value, int):
            return value
        if str(value).lower() == "auto":
            return None
        try:
            return int(value)
        except ValueError:
            self.fail(f"{value!r} is not 'auto' or a whole number", param, ctx)


class AutoOffOrDecay(click.ParamType):
    """'auto', 'off', or a number between 0 and 1: a decay (both ends excluded) or, with
    ``fraction``, a fraction of the budget (both ends included; 0 is the same as off)."""

    def __init__(self, metavar: str = "DECAY", fraction: bool = False) -> None:
        self.name = f"auto|off|{metavar}"
        self.fraction = fraction

    def convert(self, value: Any, param: Any, ctx: Any) -> float | str:
        if isinstance(value, float) or str(value).lower() in ("auto", "off"):
            return value if isinstance(value, float) else str(value).lower()
        try:
            number = float(value)
        except ValueError:
            self.fail(f"{value!r} is not auto, off or a number", param, ctx)
        if self.fraction and not 0 <= number <= 1:
            self.fail(f"{value!r} is not a fraction from 0 to 1", param, ctx)
        if not self.fraction and not 0 < number < 1:
            self.fail(f"{value!r} is not between 0 and 1 (both excluded)", param, ctx)
        return number


class StopFlag:
    """Set by Ctrl-C or SIGTERM so training stops cleanly after the current step.

    A second Ctrl-C interrupts at once.
    """

    def __init__(self) -> None:
        self.signal_number: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopFlag:
        for number in EXIT_INTERRUPTED:
            self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def _handle(self, number: int, frame: Any) -> None:
        if self.signal_number is not None and number == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal_number = number

    def __call__(self) -> bool:
        return self.signal_number is not None


def _runs_dir_option(function: Callable) -> Callable:
    return click.option(
        "--runs-dir",
        type=click.Path(path_type=Path),
        default=Path("runs"),
        show_default=True,
        help="Folder that holds the run folders.",
    )(function)


def _truncation_option(function: Callable) -> Callable:
    return click.option(
        "--truncation",
        type=click.FloatRange(0, 1, min_open=True),
        metavar="PSI",
        help="Move the noise toward its average by PSI (0 < PSI <= 1): more typical pictures, less variety.",
    )(function)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="kgan", message="%(prog)s %(version)s")
def cli() -> None:
    """kgan: train a GAN on a folder of images, then sample it and make videos.

    \b
    Examples:
      kgan train ./images --minutes 30     train a DCGAN on any folder of images
      kgan train                           train on the embedded Fashion-MNIST subset
      kgan sample -n 64                    64 new images and a grid from the latest run
      kgan video --frames 300              a looping latent-space walk as MP4
      kgan video --timelapse --out t.gif   the training time-lapse as a GIF
      kgan eval -n 10000                   FID and KID of the newest run
      kgan runs                            every run at a glance
      kgan dream photo.jpg                 DeepDream with the run's discriminator
      kgan project photo.png               find the generator input that redraws a picture
      kgan export --format onnx            the generator as a file that runs without kgan
      kgan serve                           a web page to watch runs and explore generators
    """


@cli.command()
@click.argument("data_dir", required=False, type=click.Path(path_type=Path))
@click.option(
    "--steps", type=click.IntRange(min=1), help="Stop after this many steps (default 5000 if no budget is given)."
)
@click.option(
    "--epochs", type=click.FloatRange(min=0, min_open=True), help="Stop after this many passes over the images."
)
@click.option(
    "--minutes", type=click.FloatRange(min=0, min_open=True), help="Stop after this many minutes of training."
)
@click.option(
    "--batch-size",
    type=AutoInt("N"),
    default="auto",
    show_default=True,
    help=(
        f"Images per step (auto: {SMALL_BATCH} on a CPU up to {SMALL_BATCH_UP_TO_PIXELS} px, where a smaller batch "
        f"means more steps a minute; else {DCGAN_BATCH})."
    ),
)
@click.option(
    "--resolution",
    type=AutoInt("PIXELS"),
    default="auto",
    show_default=True,
    help="Image side in pixels (16, 28, 32, 64, 128, ...); auto picks from the images, up to 64.",
)
@click.option(
    "--channels",
    type=Choice(["auto", "1", "3"]),
    default="auto",
    show_default=True,
    help="1 for grayscale, 3 for colour; auto gives 1 when every image is gray.",
)
@click.option(
    "--arch",
    type=click.Choice(ARCHITECTURES),
    default=DEFAULT_ARCH,
    show_default=True,
    help="dcgan: strided/transposed convolutions; lean: resize-then-convolve G (no checkerboard, slower); "
    "seed: the seed video's Keras DCGAN.",
)
@click.option(
    "--d-norm",
    type=click.Choice(("auto", *D_NORMS)),
    default="auto",
    show_default=True,
    help="What normalises D: none, batch norm after its hidden layers, or spectral normalization of every "
    f"weight (auto: {describe_auto_d_norm()}, none with a gradient penalty).",
)
@click.option(
    "--d-features",
    type=click.Choice(("auto", *D_FEATURES)),
    default="auto",
    show_default=True,
    help="What D judges besides pixels: none, or lite1, a frozen ImageNet network's features (EfficientNet-Lite1, "
    "a projected discriminator; auto: lite1 for colour at 64 px with --loss bce when its weights' package is "
    "installed, none otherwise).",
)
@click.option(
    "--init",
    type=click.Choice(("auto", *INITS)),
    default="auto",
    show_default=True,
    help="What G's weights and D's convolutions start from: dcgan, the DCGAN paper's N(0, 0.02), or glorot, "
    f"Keras's Glorot uniform (auto: {describe_auto_init()}).",
)
@click.option(
    "--latent-dim", type=click.IntRange(min=1), default=100, show_default=True, help="Size of the noise vector."
)
@click.option(
    "--width",
    type=AutoInt("N"),
    default="auto",
    show_default=True,
    help=f"Filters in D's first layer (auto: {describe_auto_widths()}).",
)
@click.option(
    "--g-width",
    type=AutoInt("N"),
    default="auto",
    show_default=True,
    help=f"Filters in G's last hidden layer (auto: {describe_auto_g_widths()}).",
)
@click.option(
    "--optimizer",
    type=click.Choice(OPTIMIZERS),
    default="adam",
    show_default=True,
    help="adam (beta1 0.5) or the seed's SGD with Nesterov momentum 0.9.",
)
@click.option(
    "--g-lr",
    "generator_lr",
    type=click.FloatRange(min=0, min_open=True),
    help=(
        f"Generator learning rate [default: Adam {FAST_ADAM_LEARNING_RATE:g} up to {FAST_ADAM_UP_TO_PIXELS} px, "
        f"{DEFAULT_LEARNING_RATES['adam']:g} above; {WGAN_GP_LEARNING_RATE:g} for wgan-gp; "
        f"{DEFAULT_LEARNING_RATES['sgd']:g} for sgd]."
    ),
)
@click.option(
    "--d-lr",
    "discriminator_lr",
    type=click.FloatRange(min=0, min_open=True),
    help="Discriminator learning rate [default: --g-lr's default, even when --g-lr is given].",
)
@click.option("--beta1", type=click.FloatRange(0, 1, max_open=True), help="Adam's beta1 [default: 0.5; 0 for wgan-gp].")
@click.option(
    "--beta2", type=click.FloatRange(0, 1, max_open=True), help="Adam's beta2 [default: 0.999; 0.9 for wgan-gp]."
)
@click.option("--momentum", type=click.FloatRange(0, 1, max_open=True), help="SGD's Nesterov momentum [default: 0.9].")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), help="Makes the run repeatable (random if not given).")
@click.option(
    "--fit",
    type=click.Choice(["crop", "pad"]),
    default="crop",
    show_default=True,
    help="Centre-crop images to a square, or pad them.",
)
@click.option(
    "--background",
    type=click.Choice(["white", "black"]),
    default="white",
    show_default=True,
    help="What transparent pixels (and padding) become.",
)
@click.option(
    "--video-stride",
    type=AutoInt("K"),
    default="auto",
    show_default=True,
    metavar="auto|K",
    help="Video clips: keep every K-th frame; auto keeps 2 frames per second of video.",
)
@click.option(
    "--max-frames-per-video",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="At most this many frames from one clip, spread over it, so a long clip cannot swamp the stills.",
)
@click.option(
    "--loss",
    type=click.Choice(LOSSES),
    default="bce",
    show_default=True,
    help="bce (the original GAN), wgan-gp (Wasserstein with gradient penalty), hinge, or relativistic "
    "(each real image paired with a fake, D scores which is real).",
)
@click.option(
    "--critic-steps",
    type=click.IntRange(min=1),
    help="D updates per G update [default: 5 for wgan-gp, 2 with a spectrally normalized D, else 1].",
)
@click.option(
    "--gp-weight", type=click.FloatRange(min=0), default=10.0, show_default=True, help="wgan-gp's penalty weight."
)
@click.option(
    "--r1",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    metavar="GAMMA",
    help="Zero-centred gradient penalty on real images (R1), weight GAMMA/2; 0 is off.",
)
@click.option(
    "--lr-cooldown",
    type=AutoOffOrDecay("FRACTION", fraction=True),
    default="auto",
    show_default=True,
    help=(
        f"Lower both learning rates linearly to zero over the last FRACTION of the budget (--minutes, --steps, "
        f"--epochs): auto ({AUTO_LR_COOLDOWN}), off, or a fraction."
    ),
)
@click.option(
    "--grow",
    type=AutoOffOrDecay("FRACTION", fraction=True),
    default="auto",
    show_default=True,
    help=(
        "Train the first FRACTION of the budget at half the image size, then grow G and add a full-size D "
        f"(--arch dcgan): auto ({AUTO_GROW} for {AUTO_GROW_RESOLUTIONS[0]} px colour with --d-features lite1, "
        "off otherwise), off, or a fraction below 1."
    ),
)
@click.option("--conditional", is_flag=True, help="Condition on classes: the first level of subfolders.")
@click.option("--info-codes", is_flag=True, help="InfoGAN: codes learned without labels (categorical + continuous).")
@click.option("--info-categories", type=click.IntRange(min=2), help="Values of the categorical code [default: 10].")
@click.option("--info-continuous", type=click.IntRange(min=0), help="Continuous codes [default: 2].")
@click.option(
    "--ema",
    type=AutoOffOrDecay(),
    default="auto",
    show_default=True,
    help=f"A moving average of G's weights (sample and video use it): auto ({AUTO_EMA_DECAY}), off, or a decay.",
)
@click.option(
    "--lookahead",
    default="auto",
    show_default=True,
    metavar="auto|off|K[,ALPHA]",
    help=(
        "Every K steps G and D step back ALPHA of the way to slow copies of their weights, which damps the "
        f"game's oscillation (ALPHA 0.5 when left out); auto: {describe_auto_lookahead()}."
    ),
)
@click.option(
    "--augment",
    default="auto",
    show_default=True,
    metavar="auto|off|POLICIES",
    help=(
        f"Differentiable augmentation (any of translation,cutout,color); auto: {describe_auto_augment()}, none above."
    ),
)
@click.option(
    "--mirror",
    type=click.Choice(MIRROR_CHOICES),
    default="auto",
    show_default=True,
    help=f"Show D each real image flipped left to right half the time (twice the pictures, for folders whose "
    f"pictures make sense mirrored; not for text); auto: {describe_auto_mirror()}.",
)
@click.option("--eval-every", type=click.IntRange(min=1), metavar="N", help="Compute FID and KID every N steps.")
@click.option(
    "--eval-data", type=click.Path(path_type=Path), help="Real images for --eval-every [default: the training folder]."
)
@click.option(
    "--eval-n", type=click.IntRange(min=2), default=1000, show_default=True, help="Generated images per evaluation."
)
@click.option(
    "--eval-features", type=click.Path(path_type=Path), help="A .keras feature model instead of Inception-v3."
)
@click.option("--eval-weights", type=click.Path(path_type=Path), help="A local copy of the Inception-v3 weights file.")
@click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default="auto",
    show_default=True,
    help="auto: bfloat16 where the CPU or GPU runs it fast, else float32.",
)
@click.option(
    "--compile",
    "compiler",
    type=click.Choice(COMPILERS),
    default="auto",
    show_default=True,
    help="auto: XLA for float32 on one CPU (a faster step), else a TensorFlow graph.",
)
@click.option(
    "--steps-per-execution",
    type=AutoInt("N"),
    default="auto",
    show_default=True,
    help=f"Training steps per compiled call (auto: {FUSED_STEPS} for XLA steps of images up to "
    f"{FUSED_STEPS_UP_TO_PIXELS} px in runs of {FUSED_STEPS_FROM_RUN_STEPS:,} steps or a budget in minutes, where "
    "the call's own cost weighs; else 1).",
)
@click.option(
    "--strategy",
    type=click.Choice(STRATEGIES),
    default="none",
    show_default=True,
    help="tf.distribute: mirrored (all local GPUs) or multiworker (TF_CONFIG); see the README.",
)
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    help="Where decoded images are cached [default: $KGAN_CACHE_DIR or ~/.cache/kgan].",
)
@click.option("--no-cache", is_flag=True, help="Decode the images into memory every time instead.")
@_runs_dir_option
@click.option("--name", help="Run folder name [default: the data folder's name plus a counter].")
@click.option(
    "--sample-every", type=click.IntRange(min=1), default=100, show_default=True, help="Steps between sample grids."
)
@click.option(
    "--checkpoint-every",
    default="1000,10m",
    show_default=True,
    metavar="STEPS|DURATION",
    help="Steps (500), training time (90s, 10m, 1h) or both (1000,10m) between checkpoints.",
)
@click.option(
    "--keep-checkpoints", type=click.IntRange(min=1), default=3, show_default=True, help="How many checkpoints to keep."
)
@click.option(
    "--resume",
    type=click.Path(path_type=Path),
    help="Continue RUN (a run folder or name) from its newest checkpoint; budgets count the whole run.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def train(data_dir: Path | None, quiet: bool, resume: Path | None, **options: Any) -> None:
    """Train a GAN on a folder of images (default: the embedded Fashion-MNIST subset).

    The folder is searched recursively; any image format and size works, and
    files that cannot be read are skipped and counted. Everything the run makes
    goes into runs/NAME/. Ctrl-C stops after saving a checkpoint.

    \b
    Examples:
      kgan train                                  # embedded data, 5000 steps
      kgan train ./images --minutes 30            # your folder, 30 minutes
      kgan train ./faces --resolution 64 --epochs 25 --seed 1
      kgan train ./glyphs --arch seed --optimizer sgd
      kgan train --resume runs/images-1 --steps 20000   # continue a run
      kgan train ./classes --conditional                 # one subfolder per class
      kgan train ./glyphs --loss wgan-gp --augment translation,cutout,color --ema 0.999
      kgan train ./digits --info-codes --info-categories 10
    """
    from kgan.loop import train as run_training
    from kgan.options import TrainOptions, resume_options
    from kgan.reporting import ConsoleReporter, format_elapsed
    from kgan.runs import find_run

    saved_config = None
    if resume is not None:
        # The saved run's options, with the ones typed on this command line applied.
        context = click.get_current_context()
        given = {
            name: value
            for name, value in options.items()
            if context.get_parameter_source(name) not in (None, click.core.ParameterSource.DEFAULT)
        }
        if data_dir is not None:
            given["data_dir"] = data_dir
        run = find_run(resume, options["runs_dir"])
        saved_config = run.config()
        train_options = resume_options(saved_config.options, run.path, given)
    else:
        train_options = TrainOptions(data_dir=data_dir, **options).validate()

    reporter = ConsoleReporter(quiet=quiet)
    with StopFlag() as stop:
        try:
            result = run_training(train_options, reporter, stop, saved_config)
        finally:
            reporter.finish()
    how = "stopped" if result.stopped_early else "finished"
    reporter.message(
        f"{how} at step {result.step:,} after {format_elapsed(result.elapsed_seconds)}; checkpoint {result.checkpoint}"
    )
    reporter.message(f"samples: {result.run.samples_dir}   next: kgan sample --run {result.run.path}")
    if result.stopped_early and stop.signal_number is not None:
        sys.exit(EXIT_INTERRUPTED[stop.signal_number])


@cli.command()
@click.option(
    "-n",
    "count",
    type=click.IntRange(min=1),
    help="How many images [default: 64]; per class with --label all, rows with --sweep-code [default: 8].",
)
@click.option("--run", "run_path", help="Run folder or name, checkpoint folder, or .keras file [default: newest run].")
@_runs_dir_option
@click.option(
    "--out", type=click.Path(path_type=Path), help="Output folder [default: a new folder in the run's generated/]."
)
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), help="The same seed gives the same images.")
@click.option("--label", help="Conditional runs: a class name or index, or 'all' for one row per class.")
@click.option(
    "--sweep-code",
    type=click.IntRange(min=0),
    metavar="I",
    help="InfoGAN runs: vary code I along each row (0 is the categorical code).",
)
@_truncation_option
@click.option(
    "--latents",
    type=click.Path(path_type=Path),
    multiple=True,
    help="Draw the generator inputs saved in this .npy file (from kgan project); repeatable.",
)
@click.option("--no-ema", is_flag=True, help="Use G itself, not its moving average.")
def sample(
    count: int | None,
    run_path: str | None,
    runs_dir: Path,
    out: Path | None,
    seed: int | None,
    label: str | None,
    sweep_code: int | None,
    truncation: float | None,
    latents: tuple[Path, ...],
    no_ema: bool,
) -> None:
    """Write N new images and one grid of them from a trained generator.

    \b
    Examples:
      kgan sample -n 64                     # from the newest run under runs/
      kgan sample -n 16 --seed 7 --out faces/
      kgan sample --run runs/images-2
      kgan sample --run runs/images-2/checkpoints/step-003000/generator.keras --out x/
      kgan sample --label sneaker           # a conditional run's class
      kgan sample --label all -n 8          # one row of 8 per class
      kgan sample --sweep-code 1            # InfoGAN: code 1 from -2 to 2 along each row
      kgan sample --truncation 0.7          # more typical images, less variety
      kgan sample --latents projected/shirt.npy
    """
    from kgan.tools.generator import load_generator_source
    from kgan.tools.sample import write_samples

    if latents and (count is not None or seed is not None):
        raise OptionError("--latents gives the generator inputs itself; drop -n and --seed")
    if count is None:
        count = 8 if label == "all" or sweep_code is not None else 64
    source = load_generator_source(run_path, runs_dir, ema=not no_ema)
    result = write_samples(source, count, seed, out, label, sweep_code, truncation, list(latents))
    origin = f"seed {result.seed}" if result.seed is not None else "saved latents"
    if truncation is not None:
        origin += f", truncation {truncation:g}"
    click.echo(
        f"wrote {len(result.images)} images and {result.grid.name} to {result.folder} "
        f"({origin}, from {source.describe()})"
    )


@cli.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--run", "run_path", help="Run folder or name, or checkpoint folder [default: newest run].")
@_runs_dir_option
@click.option(
    "--out", type=click.Path(path_type=Path), help="Output folder [default: a new folder in the run's projected/]."
)
@click.option("--steps", type=click.IntRange(min=1), default=300, show_default=True, help="Optimisation steps.")
@click.option(
    "--starts", type=click.IntRange(min=1), default=8, show_default=True, help="Random starts; the best wins."
)
@click.option("--label", help="Conditional runs: the class to project into [default: try every class].")
@click.option(
    "--features",
    type=click.Choice(["discriminator", "vgg16"]),
    default="discriminator",
    show_default=True,
    help="Network for the perceptual distance: the run's own D (offline), or VGG16 (ImageNet weights).",
)
@click.option("--weights", type=click.Path(path_type=Path), help="A local copy of the VGG16 weights file.")
@_truncation_option
@click.option("--video", "with_video", is_flag=True, help="Also write each optimisation as a short MP4.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True, help="Seed of the starts.")
@click.option("--no-ema", is_flag=True, help="Use G itself, not its moving average.")
def project(
    images: tuple[Path, ...],
    run_path: str | None,
    runs_dir: Path,
    out: Path | None,
    steps: int,
    starts: int,
    label: str | None,
    features: str,
    weights: Path | None,
    truncation: float | None,
    with_video: bool,
    seed: int,
    no_ema: bool,
) -> None:
    """Find the generator inputs that best redraw IMAGES with a trained run.

    Writes, per image, its latent (NAME.npy, for kgan sample/video --latents),
    the reconstruction (NAME.png) and both side by side (NAME-compare.png),
    and prints how close it came (PSNR, perceptual distance). --truncation
    draws the random starts nearer the average input.

    \b
    Examples:
      kgan project shirt.png bag.jpg              # into the newest run
      kgan project photos/*.jpg --run faces --video
      kgan project face.png --features vgg16 --weights vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5
    """
    from kgan.tools.generator import load_generator_source
    from kgan.tools.project import ProjectSettings, project_files

    settings = ProjectSettings(
        steps=steps, starts=starts, features=features, weights=weights, label=label, truncation=truncation,
        seed=seed, snapshots=with_video,
    )  # fmt: skip
    settings.check()
    source = load_generator_source(run_path, runs_dir, ema=not no_ema)
    if out is None:
        if source.run is None:
            raise OptionError("a lone checkpoint has no run folder to write into; pass --out")
        out = source.run.new_numbered_folder("projected")
    done, failed = project_files(source, list(images), settings, out, ".mp4" if with_video else None, report=click.echo)
    click.echo(f"projected {len(done)} of {len(images)} images into {out} (from {source.describe()})")
    if failed:
        sys.exit(1)


@cli.command()
@click.option(
    "--frames",
    type=click.IntRange(min=1),
    default=300,
    show_default=True,
    help="Frames in the latent walk (--between, --latents: 90 per picture unless given).",
)
@click.option(
    "--fps", type=click.FloatRange(min=0, min_open=True), help="Frames per second [default: 30; 8 for --timelapse]."
)
@click.option(
    "--size",
    type=click.IntRange(16, 4096),
    default=256,
    show_default=True,
    help="Frame side in pixels (images are upscaled; rounded up to a multiple of 16).",
)
@click.option(
    "--grid", type=click.IntRange(min=1), default=1, show_default=True, help="Show GRID x GRID walks side by side."
)
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), help="The same seed gives the same walk.")
@click.option("--timelapse", is_flag=True, help="Stitch the run's training sample grids instead, with elapsed time.")
@click.option("--label", help="Conditional runs: walk within this class (a name or index).")
@click.option(
    "--sweep-code",
    type=click.IntRange(min=0),
    metavar="I",
    help="InfoGAN runs: sweep code I back and forth instead of walking.",
)
@click.argument("pictures", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--between",
    is_flag=True,
    help="Walk through the PICTURES given (projected first, reusing earlier projections; .npy latents as they are).",
)
@click.option(
    "--latents",
    type=click.Path(path_type=Path),
    multiple=True,
    help="Walk through the generator inputs saved in these .npy files (from kgan project).",
)
@_truncation_option
@click.option("--no-ema", is_flag=True, help="Use G itself, not its moving average.")
@click.option("--run", "run_path", help="Run folder or name, checkpoint folder, or .keras file [default: newest run].")
@_runs_dir_option
@click.option(
    "--out", type=click.Path(path_type=Path), help="Output .mp4 or .gif [default: a new file in the run's videos/]."
)
def video(
    frames: int,
    fps: float | None,
    size: int,
    grid: int,
    seed: int | None,
    timelapse: bool,
    label: str | None,
    sweep_code: int | None,
    pictures: tuple[Path, ...],
    between: bool,
    latents: tuple[Path, ...],
    truncation: float | None,
    no_ema: bool,
    run_path: str | None,
    runs_dir: Path,
    out: Path | None,
) -> None:
    """Make an MP4 (or a GIF, by the output's extension) from a trained generator.

    By default a smooth, looping walk through latent space; with --between, a
    loop through real pictures (projected into the run); with --timelapse,
    the run's sample grids in step order with the elapsed training time.

    \b
    Examples:
      kgan video --frames 300                     # 10 s at 30 fps from the newest run
      kgan video --frames 120 --grid 4 --out walk.gif
      kgan video --timelapse --run runs/images-2
      kgan video --label sneaker --grid 3         # a conditional run's class
      kgan video --sweep-code 0 --grid 4          # InfoGAN: blend through the categories
      kgan video --between a.png b.png c.png      # a loop through three real pictures
      kgan video --latents projected-1/shirt.npy --latents projected-1/bag.npy
      kgan video --truncation 0.7                 # a calmer walk through typical pictures
    """
    from kgan.tools.video import VideoRequest, make_video

    if pictures and not between:
        raise OptionError(f"unexpected argument {pictures[0]}: to walk through pictures, use --between PICTURE...")
    if between and len(pictures) < 2:
        raise OptionError("--between needs at least two pictures (or .npy latents)")
    frames_given = click.get_current_context().get_parameter_source("frames").name != "DEFAULT"
    request = VideoRequest(
        run_path, runs_dir, out, frames, frames_given, fps, size, grid, seed, timelapse, label, sweep_code,
        not no_ema, truncation, latents, pictures,
    )  # fmt: skip
    result, origin = make_video(request)
    if origin:
        click.echo(origin)
    width, height = result.size
    click.echo(f"wrote {result.path} ({result.frames} frames, {width}x{height}, {result.fps:g} fps)")


@cli.command()
@click.option("--run", "run_path", help="Run folder or name, checkpoint folder, or .keras file [default: newest run].")
@_runs_dir_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["savedmodel", "tflite", "onnx"]),
    default="savedmodel",
    show_default=True,
    help="SavedModel (TensorFlow, TF Serving), TensorFlow Lite, or ONNX (needs: pip install 'kgan[onnx]').",
)
@click.option("--out", type=click.Path(path_type=Path), help="Where to write it [default: the run's exports/ folder].")
@click.option("--no-ema", is_flag=True, help="Export G itself, not its moving average.")
def export(run_path: str | None, runs_dir: Path, fmt: str, out: Path | None, no_ema: bool) -> None:
    """Write a trained generator that runs without kgan: noise in, uint8 pictures out.

    A README beside it gives the input and output shapes, the value ranges and
    an example of calling it.

    \b
    Examples:
      kgan export                                 # a SavedModel of the newest run
      kgan export --format tflite --out gen.tflite
      kgan export --run faces --format onnx
    """
    from kgan.tools.export import export_generator
    from kgan.tools.generator import load_generator_source

    source = load_generator_source(run_path, runs_dir, ema=not no_ema)
    result = export_generator(source, fmt, out)
    shapes = ", ".join(f"{name} {tuple(shape)}" for name, shape in result.inputs.items())
    click.echo(f"wrote {result.path} ({fmt}: {shapes} -> uint8 {tuple(result.output_shape)}; see {result.readme.name})")


@cli.command(name="eval")
@click.option("--run", "run_path", help="Run folder or name, or checkpoint folder [default: newest run].")
@_runs_dir_option
@click.option("--data", type=click.Path(path_type=Path), help="Real images [default: the folder the run trained on].")
@click.option("-n", "count", type=click.IntRange(min=2), default=10000, show_default=True, help="Generated images.")
@click.option("--weights", type=click.Path(path_type=Path), help="A local copy of the Inception-v3 weights file.")
@click.option(
    "--features", type=click.Path(path_type=Path), help="Any .keras model whose output is a feature vector, instead."
)
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True)
@click.option("--no-ema", is_flag=True, help="Use G itself, not its moving average.")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Where real images' features are cached.")
@click.option("--no-cache", is_flag=True, help="Compute the real images' features every time.")
def evaluate(
    run_path: str | None,
    runs_dir: Path,
    data: Path | None,
    count: int,
    weights: Path | None,
    features: Path | None,
    seed: int,
    no_ema: bool,
    cache_dir: Path | None,
    no_cache: bool,
) -> None:
    """Compute FID and KID between a run's generated images and real ones.

    Standard FID: Inception-v3 pool features at 299x299, with ImageNet weights
    that Keras downloads once (offline, pass the file with --weights). The
    result is printed and appended to the run's metrics.jsonl.

    \b
    Examples:
      kgan eval                                   # newest run against its own data, 10,000 images
      kgan eval --run runs/faces-1 --data ./faces -n 50000
      kgan eval --weights inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5
      kgan eval --features my_classifier_features.keras -n 2000
    """
    from kgan.tools.evaluation import evaluate_run

    result, run = evaluate_run(
        run_path, runs_dir, data, count, features, weights, seed, ema=not no_ema, cache=not no_cache,
        cache_dir=cache_dir,
    )  # fmt: skip
    click.echo(result.summary())
    click.echo(f"appended to {run.metrics_path}")


@cli.command()
@_runs_dir_option
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="0 picks a free port.")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on; anything but this machine warns."
)
@click.option(
    "--project-steps",
    type=click.IntRange(min=1),
    default=300,
    show_default=True,
    help="Optimisation steps when projecting an uploaded picture.",
)
def serve(runs_dir: Path, port: int, host: str, project_steps: int) -> None:
    """A local web page: watch runs learn, explore what a generator makes.

    \b
    Examples:
      kgan serve                       then open http://127.0.0.1:8000/
      kgan serve --runs-dir experiments --port 8080
    """
    try:
        from kgan.serve.app import serve as serve_pages
    except ImportError as error:
        raise OptionError(f"kgan serve needs Flask ({error.name} is missing): pip install 'kgan[serve]'") from None
    serve_pages(runs_dir, host, port, click.echo, project_steps=project_steps)


@cli.command()
@_runs_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def runs(runs_dir: Path, as_json: bool) -> None:
    """List the runs: data, size, architecture and loss, steps, time, last losses, best FID.

    \b
    Examples:
      kgan runs
      kgan runs --runs-dir experiments --json
    """
    import json

    from kgan.tools.summary import format_table, list_runs

    summaries = list_runs(runs_dir)
    if as_json:
        click.echo(json.dumps(summaries, indent=2))
    elif not summaries:
        click.echo(f"no runs in {runs_dir}/ yet; start one with 'kgan train DIR'")
    else:
        click.echo(format_table(summaries))


@cli.command()
@click.argument("run_name", metavar="RUN")
@_runs_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def info(run_name: str, runs_dir: Path, as_json: bool) -> None:
    """Show one run whole: options, data, model, checkpoints, metrics, outputs.

    \b
    Examples:
      kgan info fashion-mnist-1
      kgan info runs/faces-2 --json
    """
    import json

    from kgan.runs import find_run
    from kgan.tools.summary import describe, format_description

    details = describe(find_run(run_name, runs_dir))
    click.echo(json.dumps(details, indent=2) if as_json else format_description(details))


@cli.command()
@click.argument("image", required=False, type=click.Path(path_type=Path))
@click.option("--run", "run_path", help="Dream with this run's discriminator [default: the newest run].")
@_runs_dir_option
@click.option("--model", "model_name", help="vgg16, inceptionv3, or PATH.keras instead of a run's discriminator.")
@click.option("--weights", type=click.Path(path_type=Path), help="A local ImageNet weights file for vgg16/inceptionv3.")
@click.option("--layer", "layers", multiple=True, help="A layer to excite (repeatable) [default: the model's usual].")
@click.option("--list-layers", is_flag=True, help="Print the model's layer names and output shapes, then stop.")
@click.option("--steps", type=click.IntRange(min=1), default=40, show_default=True, help="Gradient steps per octave.")
@click.option("--octaves", type=click.IntRange(min=1), default=4, show_default=True, help="Scales, smallest first.")
@click.option(
    "--octave-scale",
    type=click.FloatRange(min=1, min_open=True),
    default=1.4,
    show_default=True,
    help="Size ratio between octaves.",
)
@click.option(
    "--step-size",
    type=click.FloatRange(min=0, min_open=True),
    default=1.5,
    show_default=True,
    help="Pixels (0-255) per normalised gradient step.",
)
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True, help="For the jitter.")
@click.option("--guide", type=click.Path(path_type=Path), help="Grow only what the network sees in this image.")
@click.option("--frames", type=click.IntRange(min=1), help="Make a zoom-into-the-dream video of this many frames.")
@click.option("--zoom", type=click.FloatRange(min=1), default=1.05, show_default=True, help="Zoom per video frame.")
@click.option("--fps", type=click.FloatRange(min=0, min_open=True), default=15, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), help="Output image, or .mp4/.gif with --frames.")
def dream(
    image: Path | None,
    run_path: str | None,
    runs_dir: Path,
    model_name: str | None,
    weights: Path | None,
    layers: tuple[str, ...],
    list_layers: bool,
    steps: int,
    octaves: int,
    octave_scale: float,
    step_size: float,
    seed: int,
    guide: Path | None,
    frames: int | None,
    zoom: float,
    fps: float,
    out: Path | None,
) -> None:
    """DeepDream: change IMAGE so a network's chosen layers fire harder.

    By default the network is the newest run's discriminator, which shows
    what kgan's own critic has learned to look for; --model picks an ImageNet
    classifier or any .keras model. Low layers give strokes and textures, high
    layers give objects; --guide grows only the guide image's features.

    \b
    Examples:
      kgan dream photo.jpg                           # with the newest run's discriminator
      kgan dream photo.jpg --model inceptionv3 --layer mixed4 --layer mixed5
      kgan dream photo.jpg --model vgg16 --guide cat.jpg --out cat-dream.png
      kgan dream photo.jpg --frames 120 --zoom 1.05 --out dive.mp4
      kgan dream --model vgg16 --list-layers
    """
    from kgan.tools.dream import DreamRequest, DreamSettings, dream_to_file
    from kgan.tools.dream import list_layers as layers_of

    settings = DreamSettings(layers, steps, octaves, octave_scale, step_size, seed)
    request = DreamRequest(image, run_path, runs_dir, model_name, weights, settings, guide, frames, zoom, fps, out)
    if list_layers:
        for name, shape in layers_of(request):
            click.echo(f"{name:32} {shape}")
        return
    dream_to_file(request, report=click.echo)


def _fail(message: str, code: int) -> None:
    click.echo(f"kgan: error: {message}", err=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; every error a user can cause ends as one line on stderr."""
    try:
        code = cli.main(args=argv, prog_name="kgan", standalone_mode=False)
    except click.ClickException as error:
        hint = ""
        if isinstance(error, click.UsageError) and error.ctx is not None:
            hint = f" (see '{error.ctx.command_path} --help')"
        _fail(error.format_message().replace("\n", " ") + hint, error.exit_code)
    except click.Abort:
        _fail("interrupted", 130)
    except KganError as error:
        _fail(str(error), error.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as error:  # An unexpected failure still gets one line; details on request.
        if os.environ.get("KGAN_DEBUG"):
            raise
        detail = " ".join(str(error).split())[:300]
        _fail(f"unexpected {type(error).__name__}: {detail} (set KGAN_DEBUG=1 for the traceback)", 1)
    sys.exit(code if isinstance(code, int) else 0)
