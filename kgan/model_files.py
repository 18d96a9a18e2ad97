"""Loading models a user points kgan at: .keras files in safe mode, and ImageNet classifiers.

Both fail with one line naming the file and the reason, raised as the caller's
error type. ImageNet weights come from Keras' own download, once, for a user
who is online; offline, the message says where the file lives and that
``--weights PATH`` takes a local copy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kgan.backend import keras_module
from kgan.errors import KganError

IMAGENET_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"
# keras.applications' class name -> (folder, weights file) of its no-top ImageNet weights.
IMAGENET_FILES = {
    "InceptionV3": ("inception_v3", "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "VGG16": ("vgg16", "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"),
}


def short_reason(error: Exception, limit: int = 200) -> str:
    """The first sentence of an error message, on one line."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text.split(". ")[0][:limit]


def load_keras_file(path: Path, error_type: type[KganError], flag: str, compile: bool = False) -> Any:
    """A .keras model loaded with safe mode on; ``error_type`` with one line if it cannot be."""
    path = Path(path)
    if not path.is_file():
        raise error_type(f"{flag} {path} does not exist" if flag else f"{path} is missing")
    # Registers kgan's own layers, which generators saved since 2026-12 hold, before the file is read
    # (imported here, not above: it loads TensorFlow).
    import kgan.gan.batch_norm  # noqa: F401
    import kgan.gan.growing  # noqa: F401

    try:
        return keras_module().saving.load_model(path, compile=compile, safe_mode=True)
    except Exception as error:  # Keras raises many types for a bad file
        raise error_type(f"cannot load {path}: {short_reason(error)}") from None


def imagenet_weights_url(class_name: str) -> str:
    folder, file_name = IMAGENET_FILES[class_name]
    return f"{IMAGENET_URL}{folder}/{file_name}"


def load_imagenet_model(class_name: str, weights: Path | None, error_type: type[KganError], **arguments: Any) -> Any:
    """``keras.applications.<class_name>(include_top=False)`` with ImageNet weights, downloaded or local."""
    if weights is not None and not Path(weights).is_file():
        raise error_type(f"--weights {weights} does not exist")
    build = getattr(keras_module().applications, class_name)
    try:
        return build(weights=str(weights) if weights else "imagenet", include_top=False, **arguments)
    except Exception as error:  # Keras raises a plain Exception when the download fails
        if weights is None:
            raise error_type(
                f"cannot download the {class_name} ImageNet weights (offline?); fetch "
                f"{imagenet_weights_url(class_name)} elsewhere and pass it with --weights PATH"
            ) from None
        raise error_type(f"cannot load {class_name} weights from {weights}: {short_reason(error)}") from None
