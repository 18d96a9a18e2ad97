"""The options that shape a training run, validated once in one place.

No TensorFlow here: the CLI builds and checks options before anything heavy
is imported, so an impossible option fails at once.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kgan.augment import parse_policies
from kgan.backend import PRECISIONS
from kgan.distribute import STRATEGIES
from kgan.errors import OptionError
from kgan.resolution import plan_resolution, supported_resolutions

ARCHITECTURES = ("dcgan", "seed")
# The discriminator's last layer: logits for dcgan, probabilities for the seed's.
DISCRIMINATOR_OUTPUT = {"dcgan": "logits", "seed": "probabilities"}
OPTIMIZERS = ("adam", "sgd")
DEFAULT_LEARNING_RATES = {"adam": 2e-4, "sgd": 5e-4}
DEFAULT_STEPS = 5000
LOSSES = ("bce", "wgan-gp", "hinge")
# WGAN-GP as published: Adam with learning rate 1e-4, beta1 0 and beta2 0.9.
WGAN_GP_LEARNING_RATE = 1e-4
WGAN_GP_BETAS = (0.0, 0.9)
RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass
class TrainOptions:
    """Everything ``kgan train`` needs; ``validate`` fills defaults and checks ranges."""

    data_dir: Path
    runs_dir: Path = Path("runs")
    name: str | None = None
    steps: int | None = None
    epochs: float | None = None
    minutes: float | None = None
    batch_size: int = 64
    resolution: int | None = None
    channels: int | None = None
    latent_dim: int = 100
    width: int = 64
    arch: str = "dcgan"
    optimizer: str = "adam"
    generator_lr: float | None = None
    discriminator_lr: float | None = None
    seed: int | None = None
    sample_every: int = 100
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    fit: str = "crop"
    background: str = "white"
    video_stride: int | None = None
    max_frames_per_video: int = 1000
    precision: str = "auto"
    strategy: str = "none"
    cache_dir: Path | None = None
    # The GAN family (kgan.losses, kgan.conditions, kgan.augment, kgan.ema).
    loss: str = "bce"
    critic_steps: int | None = None
    gp_weight: float = 10.0
    conditional: bool = False
    info_codes: bool = False
    info_categories: int | None = None
    info_continuous: int | None = None
    ema: float | None = None
    augment: str | None = None
    # FID and KID during training (kgan.evaluation).
    eval_every: int | None = None
    eval_data: Path | None = None
    eval_n: int = 1000
    eval_features: Path | None = None
    eval_weights: Path | None = None
    # Set only when continuing a run; never saved in config.json.
    resume: Path | None = None

    def validate(self) -> TrainOptions:
        """Check every option, fill the defaults that depend on others, and return self."""
        # Absolute, so that a resumed run finds its images from any folder.
        self.data_dir = Path(self.data_dir).absolute()
        self.runs_dir = Path(self.runs_dir)
        _positive("--batch-size", self.batch_size)
        _positive("--latent-dim", self.latent_dim)
        _positive("--width", self.width)
        _positive("--sample-every", self.sample_every)
        _positive("--checkpoint-every", self.checkpoint_every)
        _positive("--keep-checkpoints", self.keep_checkpoints)
        for flag, value in (("--steps", self.steps), ("--epochs", self.epochs), ("--minutes", self.minutes)):
            if value is not None:
                _positive(flag, value)
        if self.steps is None and self.epochs is None and self.minutes is None:
            self.steps = DEFAULT_STEPS
        _choice("--arch", self.arch, ARCHITECTURES)
        _choice("--optimizer", self.optimizer, OPTIMIZERS)
        _choice("--fit", self.fit, ("crop", "pad"))
        _choice("--background", self.background, ("white", "black"))
        _choice("--precision", self.precision, PRECISIONS)
        _choice("--strategy", self.strategy, STRATEGIES)
        self.cache_dir = Path(self.cache_dir) if self.cache_dir is not None else None
        if self.channels is not None and self.channels not in (1, 3):
            raise OptionError(f"--channels must be auto, 1 or 3, not {self.channels}")
        if self.resolution is not None:
            check_resolution(self.resolution, self.arch)
        if self.name is not None and not RUN_NAME.match(self.name):
            raise OptionError(f"--name {self.name!r}: use letters, digits, '.', '_' and '-' only")
        if self.video_stride is not None:
            _positive("--video-stride", self.video_stride)
        _positive("--max-frames-per-video", self.max_frames_per_video)
        self._validate_family()
        if self.eval_every is not None:
            _positive("--eval-every", self.eval_every)
        elif self.eval_data is not None or self.eval_features is not None or self.eval_weights is not None:
            raise OptionError("--eval-data, --eval-features and --eval-weights need --eval-every")
        if self.eval_n < 2:
            raise OptionError(f"--eval-n must be at least 2, not {self.eval_n}")
        for name in ("eval_data", "eval_features", "eval_weights"):
            value = getattr(self, name)
            setattr(self, name, Path(value).absolute() if value is not None else None)
        default_lr = DEFAULT_LEARNING_RATES[self.optimizer]
        if self.loss == "wgan-gp" and self.optimizer == "adam":
            default_lr = WGAN_GP_LEARNING_RATE
        self.generator_lr = default_lr if self.generator_lr is None else self.generator_lr
        self.discriminator_lr = default_lr if self.discriminator_lr is None else self.discriminator_lr
        _positive("--g-lr", self.generator_lr)
        _positive("--d-lr", self.discriminator_lr)
        if self.seed is not None and not 0 <= self.seed < 2**32:
            raise OptionError(f"--seed must be between 0 and {2**32 - 1}, not {self.seed}")
        return self

    def _validate_family(self) -> None:
        _choice("--loss", self.loss, LOSSES)
        if self.arch == "seed" and (self.loss != "bce" or self.info_codes):
            raise OptionError(
                "--arch seed ends D in a sigmoid, so it takes only --loss bce and no --info-codes; use --arch dcgan"
            )
        if self.critic_steps is None:
            self.critic_steps = 5 if self.loss == "wgan-gp" else 1
        _positive("--critic-steps", self.critic_steps)
        if self.gp_weight < 0:
            raise OptionError(f"--gp-weight must not be negative, not {self.gp_weight}")
        if self.conditional and self.info_codes:
            raise OptionError("choose --conditional (labels from subfolders) or --info-codes (codes without labels)")
        if not self.info_codes and (self.info_categories is not None or self.info_continuous is not None):
            raise OptionError("--info-categories and --info-continuous need --info-codes")
        if self.info_codes:
            self.info_categories = 10 if self.info_categories is None else self.info_categories
            self.info_continuous = 2 if self.info_continuous is None else self.info_continuous
            if self.info_categories < 2 or self.info_continuous < 0:
                raise OptionError("--info-categories must be at least 2 and --info-continuous at least 0")
        if self.ema is not None and not 0 < self.ema < 1:
            raise OptionError(f"--ema must be a decay between 0 and 1 (such as 0.999), not {self.ema}")
        try:
            self.augment = ",".join(parse_policies(self.augment)) or None
        except ValueError as error:
            raise OptionError(f"--augment: {error}") from None

    def to_json(self) -> dict[str, Any]:
        """The options as JSON-ready values (paths as strings), without ``resume``."""
        values = dataclasses.asdict(self)
        values.pop("resume")
        return {key: str(value) if isinstance(value, Path) else value for key, value in values.items()}

    @classmethod
    def from_json(cls, values: Any, source: str = "config.json") -> TrainOptions:
        """Options read back from a run's config, checked name by name and type by type."""
        if not isinstance(values, dict):
            raise OptionError(f"{source}: 'options' is not a JSON object")
        known = {item.name: item for item in dataclasses.fields(cls) if item.name != "resume"}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise OptionError(f"{source}: unknown option {unknown[0]!r}; the file may be damaged or from a newer kgan")
        checked: dict[str, Any] = {}
        for name, value in values.items():
            if value is not None and not _json_type_fits(value, _FIELD_TYPES[name]):
                raise OptionError(f"{source}: option {name!r} has a value of the wrong type ({value!r})")
            checked[name] = value
        if "data_dir" not in checked:
            raise OptionError(f"{source}: the option 'data_dir' is missing")
        try:
            return cls(**checked).validate()
        except OptionError as error:
            raise OptionError(f"{source}: {error}") from None


# What each option holds in JSON: int options accept only ints, float ones ints or floats.
_FIELD_TYPES = {
    "data_dir": str, "runs_dir": str, "name": str, "steps": int, "epochs": float, "minutes": float,
    "batch_size": int, "resolution": int, "channels": int, "latent_dim": int, "width": int, "arch": str,
    "optimizer": str, "generator_lr": float, "discriminator_lr": float, "seed": int, "sample_every": int,
    "checkpoint_every": int, "keep_checkpoints": int, "fit": str, "background": str, "precision": str,
    "strategy": str, "cache_dir": str, "loss": str, "critic_steps": int, "gp_weight": float, "conditional": bool,
    "info_codes": bool, "info_categories": int, "info_continuous": int, "ema": float, "augment": str,
    "eval_every": int, "eval_data": str, "eval_n": int, "eval_features": str, "eval_weights": str,
    "video_stride": int, "max_frames_per_video": int,
}  # fmt: skip
# Options that may change when a run is resumed; the rest shape the networks or the data.
RESUMABLE_OPTIONS = (
    "data_dir",
    "steps",
    "epochs",
    "minutes",
    "sample_every",
    "checkpoint_every",
    "keep_checkpoints",
    "strategy",
    "cache_dir",
    "eval_every",
    "eval_data",
    "eval_n",
    "eval_features",
    "eval_weights",
)
BUDGET_OPTIONS = ("steps", "epochs", "minutes")


def option_flag(name: str) -> str:
    """The command-line spelling of an option: 'batch_size' -> '--batch-size'."""
    return {"generator_lr": "--g-lr", "discriminator_lr": "--d-lr"}.get(name, "--" + name.replace("_", "-"))


def _json_type_fits(value: Any, expected: type) -> bool:
    if isinstance(value, bool) or expected is bool:
        return isinstance(value, bool) and expected is bool
    if expected is float:
        return isinstance(value, (int, float))
    return isinstance(value, expected)


def resume_options(saved: TrainOptions, run_path: Path, given: dict[str, Any]) -> TrainOptions:
    """The options for continuing a run: the saved ones, with the few that may change replaced.

    ``given`` holds only the options the user typed. Giving any budget option
    replaces the whole saved budget; an option that shapes the networks or the
    data must match the saved value.
    """
    for name, value in given.items():
        if name in RESUMABLE_OPTIONS or name in ("runs_dir", "name"):
            continue
        if getattr(saved, name) != value:
            flag = option_flag(name)
            raise OptionError(f"{flag} cannot change when resuming (the run was trained with {getattr(saved, name)!r})")
    if any(name in given for name in BUDGET_OPTIONS):
        for name in BUDGET_OPTIONS:
            setattr(saved, name, given.get(name))
    for name in RESUMABLE_OPTIONS:
        if name in given and name not in BUDGET_OPTIONS:
            setattr(saved, name, given[name])
    saved.resume = run_path
    return saved.validate()


def check_resolution(resolution: int, arch: str) -> None:
    """Raise OptionError unless the builders can make images of this size."""
    if plan_resolution(resolution) is None:
        examples = ", ".join(str(r) for r in supported_resolutions(128))
        raise OptionError(f"--resolution {resolution} is not supported; use 4-7 times a power of two: {examples}, ...")
    if arch == "seed" and resolution % 4:
        raise OptionError(f"--arch seed needs a resolution divisible by 4, not {resolution}")


def _positive(flag: str, value: float) -> None:
    if value is None or value <= 0:
        raise OptionError(f"{flag} must be positive, not {value}")


def _choice(flag: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise OptionError(f"{flag} must be one of {', '.join(choices)}, not {value!r}")
