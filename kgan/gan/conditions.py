"""What G gets besides noise, and how D sees it: nothing, class labels, or InfoGAN codes.

A condition is a vector of ``code_size`` numbers joined to the noise at G's
input, so G stays one Sequential model taking ``latent_dim + code_size``
numbers. ``Condition`` is the one interface; everything that differs between
the kinds is a method on it, so no code outside this module asks which kind it
has:

* ``NoCondition``: plain GAN.
* ``ClassCondition``: a one-hot class label (classes are the first level of
  subfolders). D gets the label too, as ``len(classes)`` extra input channels
  that are 1 in the label's plane and 0 elsewhere.
* ``InfoCodes``: InfoGAN. One categorical code (one-hot over ``categories``)
  and ``continuous`` codes uniform in [-1, 1], learned without labels. D's last
  layer has extra outputs (the auxiliary head Q, sharing D's body) that try to
  recover the codes; G and Q both minimise the mutual-information loss.

Host-side methods draw or pick codes (NumPy; the caller passes the random
stream); graph-side methods (``discriminator_input``, ``information_loss``)
take ``keras.ops``.

To add a kind: subclass ``Condition``, override what differs, give it a
``to_json`` kind, and teach ``condition_from_json`` and ``condition_for`` it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kgan.errors import DataError, OptionError

CONTINUOUS_WEIGHT = 0.5  # the Gaussian log-likelihood with unit variance, as a squared error
SWEEP_COLUMNS = 9
SWEEP_RANGE = 2.0  # continuous codes are trained on [-1, 1]; a sweep shows a little beyond


@dataclass(frozen=True)
class Condition:
    """The interface: what G gets besides noise, how D sees it, and how to pick codes for each use.

    The defaults are those of a plain GAN (no codes); subclasses override what differs.
    """

    # Sizes: G's extra inputs, D's extra input channels, D's extra outputs.

    @property
    def code_size(self) -> int:
        return 0

    @property
    def discriminator_channels(self) -> int:
        return 0

    @property
    def extra_outputs(self) -> int:
        return 0

    @property
    def class_names(self) -> tuple[str, ...]:
        """The classes a user can pick with --label (none unless the run is conditional)."""
        return ()

    @property
    def summary_tag(self) -> str | None:
        """How ``kgan runs`` names the kind in its ARCH/LOSS column (None: nothing to add)."""
        return None

    # Training: codes for each batch, what D sees, the information loss.

    def image_labels(self, files: Sequence[str]) -> np.ndarray:
        """Each training image's class index, from its path relative to the folder (zeros without classes)."""
        return np.zeros(len(files), dtype=np.int64)

    def class_counts(self, labels: np.ndarray) -> dict[str, int]:
        """Images per class, for config.json (empty without classes)."""
        return {}

    def codes_for_fakes(self, rng: np.random.Generator, real_labels: np.ndarray) -> np.ndarray:
        """Codes for a batch of fakes, shaped like ``real_labels`` plus the code axis."""
        return np.zeros((*real_labels.shape, self.code_size), dtype=np.float32)

    def codes_for_real(self, real_labels: np.ndarray) -> np.ndarray:
        """What D's extra input channels hold for real images."""
        return np.zeros((*real_labels.shape, self.discriminator_channels), dtype=np.float32)

    def discriminator_input(self, ops: Any, images: Any, codes: Any) -> Any:
        """What D is shown for images with these codes."""
        return images

    def information_loss(self, ops: Any, outputs: Any, codes: Any) -> Any:
        """Per-sample loss for recovering the codes from D's extra outputs (None: no such loss)."""
        return None

    # Generating: codes for the sample grids, for kgan sample and video.

    def grid_codes(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """Codes of the training sample grid: one row per class or per category where there are some."""
        return self.random_codes(rng, count)

    def random_codes(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """Codes for ``count`` images when none are asked for."""
        return self.codes_for_fakes(rng, np.zeros(count, dtype=np.int64))

    def label_codes(self, label: str) -> np.ndarray:
        """The code of a class given by name or index (``--label``)."""
        raise OptionError("--label needs a run trained with --conditional")

    def per_class_codes(self, count: int) -> np.ndarray:
        """Codes for ``count`` images of each class in turn (``--label all``)."""
        raise OptionError("--label needs a run trained with --conditional")

    def sweep_values(self, code: int) -> np.ndarray:
        """The values code ``code`` takes along a row of ``kgan sample --sweep-code``."""
        raise OptionError("--sweep-code needs a run trained with --info-codes")

    def sweep_value_at(self, code: int, phase: float) -> np.ndarray:
        """The value of code ``code`` at ``phase`` (0 to 1) of a looping ``kgan video --sweep-code``."""
        raise OptionError("--sweep-code needs a run trained with --info-codes")

    def with_code(self, codes: np.ndarray, code: int, value: np.ndarray) -> np.ndarray:
        """``codes`` with code ``code`` replaced by ``value``."""
        raise OptionError("--sweep-code needs a run trained with --info-codes")

    def code_controls(self) -> list[dict[str, Any]]:
        """The codes a person can set one by one (InfoGAN's), each as a control for a page: a
        'category' with its count, or a 'range' with its limits. None for the other kinds."""
        return []

    def code_value(self, code: int, setting: float) -> np.ndarray:
        """The value of code ``code`` for a control's ``setting`` (a category's index, or a number)."""
        raise OptionError("setting a code needs a run trained with --info-codes")

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(frozen=True)
class NoCondition(Condition):
    """A plain GAN: G gets noise only."""

    def to_json(self) -> dict[str, Any]:
        return {"kind": "none"}


@dataclass(frozen=True)
class ClassCondition(Condition):
    """A conditional GAN on the folder's classes."""

    classes: tuple[str, ...] = ()

    @property
    def code_size(self) -> int:
        return len(self.classes)

    @property
    def discriminator_channels(self) -> int:
        return len(self.classes)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.classes

    @property
    def summary_tag(self) -> str:
        return "conditional"

    def one_hot(self, labels: np.ndarray) -> np.ndarray:
        return np.eye(len(self.classes), dtype=np.float32)[labels]

    def image_labels(self, files: Sequence[str]) -> np.ndarray:
        if len(self.classes) < 2:
            raise DataError("--conditional needs at least two classes (subfolders with images)")
        index = {name: i for i, name in enumerate(self.classes)}
        labels = []
        for name in files:
            found = index.get(class_of(name))
            if found is None:
                raise DataError(f"{name} is in a class the run was not trained on ({', '.join(self.classes)})")
            labels.append(found)
        return np.array(labels, dtype=np.int64)

    def class_counts(self, labels: np.ndarray) -> dict[str, int]:
        counts = np.bincount(labels, minlength=len(self.classes))
        return {name: int(count) for name, count in zip(self.classes, counts)}

    def codes_for_fakes(self, rng: np.random.Generator, real_labels: np.ndarray) -> np.ndarray:
        # Fakes take the real batch's labels: the classes keep their frequencies,
        # and a gradient penalty can mix real and fake images of the same class.
        return self.one_hot(real_labels)

    def codes_for_real(self, real_labels: np.ndarray) -> np.ndarray:
        return self.one_hot(real_labels)

    def discriminator_input(self, ops: Any, images: Any, codes: Any) -> Any:
        height, width = images.shape[1], images.shape[2]
        planes = ops.broadcast_to(
            ops.cast(codes, images.dtype)[:, None, None, :], (ops.shape(images)[0], height, width, codes.shape[-1])
        )
        return ops.concatenate([images, planes], axis=-1)

    def grid_codes(self, rng: np.random.Generator, count: int) -> np.ndarray:
        return self.one_hot(np.arange(count) * len(self.classes) // count)

    def random_codes(self, rng: np.random.Generator, count: int) -> np.ndarray:
        return self.one_hot(rng.integers(0, len(self.classes), count))

    def label_index(self, label: str) -> int:
        """A class by name or by index; raises ValueError listing the classes."""
        if label in self.classes:
            return self.classes.index(label)
        if label.isdigit() and int(label) < len(self.classes):
            return int(label)
        raise ValueError(
            f"no class {label!r}; the run's classes are {', '.join(self.classes)} (or 0-{len(self.classes) - 1})"
        )

    def label_codes(self, label: str) -> np.ndarray:
        try:
            return self.one_hot(np.array([self.label_index(label)]))[0]
        except ValueError as error:
            raise OptionError(f"--label: {error}") from None

    def per_class_codes(self, count: int) -> np.ndarray:
        return self.one_hot(np.repeat(np.arange(len(self.classes)), count))

    def to_json(self) -> dict[str, Any]:
        return {"kind": "classes", "classes": list(self.classes)}


@dataclass(frozen=True)
class InfoCodes(Condition):
    """InfoGAN's latent codes: one categorical, some continuous."""

    categories: int = 10
    continuous: int = 2

    @property
    def code_size(self) -> int:
        return self.categories + self.continuous

    @property
    def extra_outputs(self) -> int:
        return self.categories + self.continuous

    @property
    def code_count(self) -> int:
        """Codes a user can sweep: 0 is the categorical one, 1.. the continuous ones."""
        return 1 + self.continuous

    @property
    def summary_tag(self) -> str:
        return "infogan"

    def codes_for_fakes(self, rng: np.random.Generator, real_labels: np.ndarray) -> np.ndarray:
        shape = real_labels.shape
        category = rng.integers(0, self.categories, size=shape)
        one_hot = np.eye(self.categories, dtype=np.float32)[category]
        continuous = rng.uniform(-1.0, 1.0, size=(*shape, self.continuous)).astype(np.float32)
        return np.concatenate([one_hot, continuous], axis=-1)

    def information_loss(self, ops: Any, outputs: Any, codes: Any) -> Any:
        """Per-sample cross-entropy of the categorical code plus squared error of the continuous ones."""
        outputs = ops.cast(outputs, "float32")
        category_logits = outputs[:, 1 : 1 + self.categories]
        categorical = ops.categorical_crossentropy(codes[:, : self.categories], category_logits, from_logits=True)
        if not self.continuous:
            return categorical
        predicted = outputs[:, 1 + self.categories :]
        squared = ops.sum(ops.square(predicted - codes[:, self.categories :]), axis=-1)
        return categorical + CONTINUOUS_WEIGHT * squared

    def grid_codes(self, rng: np.random.Generator, count: int) -> np.ndarray:
        codes = self.random_codes(rng, count)
        codes[:, : self.categories] = np.eye(self.categories)[np.arange(count) * self.categories // count]
        return codes

    def _check_code(self, code: int) -> None:
        if not 0 <= code < self.code_count:
            raise OptionError(
                f"--sweep-code {code}: the run has codes 0 (categorical, {self.categories} values) "
                f"to {self.code_count - 1} (continuous)"
            )

    def sweep_values(self, code: int) -> np.ndarray:
        """Each category for code 0 (one-hot rows), or an even spread of a continuous code."""
        self._check_code(code)
        if code == 0:
            return np.eye(self.categories, dtype=np.float32)
        return np.linspace(-SWEEP_RANGE, SWEEP_RANGE, SWEEP_COLUMNS, dtype=np.float32)[:, None]

    def code_controls(self) -> list[dict[str, Any]]:
        category = {"code": 0, "name": "category", "kind": "category", "count": self.categories}
        ranges = [
            {"code": code, "name": f"continuous {code}", "kind": "range", "min": -SWEEP_RANGE, "max": SWEEP_RANGE}
            for code in range(1, self.code_count)
        ]
        return [category, *ranges]

    def code_value(self, code: int, setting: float) -> np.ndarray:
        self._check_code(code)
        if code == 0:
            if not (float(setting).is_integer() and 0 <= setting < self.categories):
                raise OptionError(f"code 0 is a category from 0 to {self.categories - 1}, not {setting}")
            return np.eye(self.categories, dtype=np.float32)[int(setting)]
        return np.array([setting], dtype=np.float32)

    def sweep_value_at(self, code: int, phase: float) -> np.ndarray:
        """Code 0 blends from each category into the next; a continuous code swings between -2 and 2."""
        self._check_code(code)
        if code == 0:
            position = phase * self.categories
            index, fraction = int(position), position - int(position)
            eased = fraction * fraction * (3 - 2 * fraction)
            value = np.zeros(self.categories, dtype=np.float32)
            value[index] += 1 - eased
            value[(index + 1) % self.categories] += eased
            return value
        return np.array([SWEEP_RANGE * math.sin(2 * math.pi * phase)], dtype=np.float32)

    def with_code(self, codes: np.ndarray, code: int, value: np.ndarray) -> np.ndarray:
        self._check_code(code)
        codes = codes.copy()
        if code == 0:
            codes[..., : self.categories] = value
        else:
            codes[..., self.categories + code - 1] = np.asarray(value)[..., 0]
        return codes

    def to_json(self) -> dict[str, Any]:
        return {"kind": "info", "categories": self.categories, "continuous": self.continuous}


def class_of(relative_path: str) -> str:
    """The class of a training image: the first folder of its path inside the image folder."""
    parts = Path(relative_path).parts
    if len(parts) < 2:
        raise DataError(f"--conditional needs one subfolder per class, but {relative_path} is not in one")
    return parts[0]


# A plain run has no condition. Conditioning on clusters (Liu et al. 2020's self-conditioned GAN:
# k-means over the training images' features, each cluster a class, drawn by its share when
# sampling) was measured with 20 clusters of Lite1's block-14 features and a projection term in
# each projected D: 0.98, 1.33 and 1.28 of the default's colour, patch and identity-net distances at
# 0.78 of the steps; 1.05, 1.18 and 1.32 with the pixel D unconditional. Recall stayed at 0.01
# against 0.03 (64 px colour icons, 8 minutes, AVX-512 BF16 EPYC; bench/coverage.py). Classes from the
# icons' own categories (13 and the rest) did no better: recall 0.01 with the pixel D (what --conditional
# builds) and with the projected D, which drew 0.82, 2.33 and 1.38 of the pixel D's distances, so
# --conditional keeps the pixel D.
def condition_for(
    conditional: bool, info_codes: bool, info_categories: int | None, info_continuous: int | None, files: list[str]
) -> Condition:
    """The condition a new run's options ask for; the classes come from the image files' folders."""
    if conditional:
        return ClassCondition(tuple(sorted({class_of(name) for name in files})))
    if info_codes:
        return InfoCodes(info_categories, info_continuous)
    return NoCondition()


def condition_from_json(value: Any) -> Condition:
    """The condition a run's config.json describes; ValueError when it is malformed."""
    if not isinstance(value, dict) or value.get("kind", "none") == "none":
        return NoCondition()
    kind = value["kind"]
    if kind == "classes":
        classes = value.get("classes")
        if not isinstance(classes, list) or not all(isinstance(name, str) for name in classes) or len(classes) < 2:
            raise ValueError("'condition.classes' must list at least two class names")
        return ClassCondition(tuple(classes))
    if kind == "info":
        categories, continuous = value.get("categories"), value.get("continuous")
        if not isinstance(categories, int) or not isinstance(continuous, int) or categories < 2 or continuous < 0:
            raise ValueError("'condition' must give whole numbers of categories (>= 2) and continuous codes (>= 0)")
        return InfoCodes(categories, continuous)
    raise ValueError(f"unknown condition kind {kind!r}")
