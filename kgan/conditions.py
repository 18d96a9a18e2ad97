"""What G gets besides noise, and how D sees it: nothing, class labels, or InfoGAN codes.

A condition is a vector of ``code_size`` numbers joined to the noise at G's
input, so G stays one Sequential model taking ``latent_dim + code_size``
numbers.

* ``NoCondition``: plain GAN.
* ``ClassCondition``: a one-hot class label (classes are the first level of
  subfolders). D gets the label too, as ``len(classes)`` extra input channels
  that are 1 in the label's plane and 0 elsewhere.
* ``InfoCodes``: InfoGAN. One categorical code (one-hot over ``categories``)
  and ``continuous`` codes uniform in [-1, 1], learned without labels. D's last
  layer has extra outputs (the auxiliary head Q, sharing D's body) that try to
  recover the codes; G and Q both minimise the mutual-information loss.

Host-side code draws the codes (NumPy, from the run's seed); graph-side code
(keras.ops) builds D's input and the information loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

CONTINUOUS_WEIGHT = 0.5  # the Gaussian log-likelihood with unit variance, as a squared error


@dataclass(frozen=True)
class NoCondition:
    """A plain GAN: G gets noise only."""

    @property
    def code_size(self) -> int:
        return 0

    @property
    def discriminator_channels(self) -> int:
        return 0

    @property
    def extra_outputs(self) -> int:
        return 0

    def codes_for_fakes(self, rng: np.random.Generator, real_labels: np.ndarray) -> np.ndarray:
        """Codes for a batch of fakes, shaped like ``real_labels`` plus the code axis."""
        return np.zeros((*real_labels.shape, self.code_size), dtype=np.float32)

    def codes_for_real(self, real_labels: np.ndarray) -> np.ndarray:
        """What D's extra input channels hold for real images."""
        return np.zeros((*real_labels.shape, self.discriminator_channels), dtype=np.float32)

    def discriminator_input(self, ops: Any, images: Any, codes: Any) -> Any:
        return images

    def information_loss(self, ops: Any, outputs: Any, codes: Any) -> Any:
        return None

    def to_json(self) -> dict[str, Any]:
        return {"kind": "none"}


@dataclass(frozen=True)
class ClassCondition(NoCondition):
    """A conditional GAN on the folder's classes."""

    classes: tuple[str, ...] = ()

    @property
    def code_size(self) -> int:
        return len(self.classes)

    @property
    def discriminator_channels(self) -> int:
        return len(self.classes)

    def one_hot(self, labels: np.ndarray) -> np.ndarray:
        return np.eye(len(self.classes), dtype=np.float32)[labels]

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

    def label_index(self, label: str) -> int:
        """A class by name or by index; raises ValueError listing the classes."""
        if label in self.classes:
            return self.classes.index(label)
        if label.isdigit() and int(label) < len(self.classes):
            return int(label)
        raise ValueError(
            f"no class {label!r}; the run's classes are {', '.join(self.classes)} (or 0-{len(self.classes) - 1})"
        )

    def to_json(self) -> dict[str, Any]:
        return {"kind": "classes", "classes": list(self.classes)}


@dataclass(frozen=True)
class InfoCodes(NoCondition):
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

    def to_json(self) -> dict[str, Any]:
        return {"kind": "info", "categories": self.categories, "continuous": self.continuous}


def condition_from_json(value: Any) -> NoCondition:
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
