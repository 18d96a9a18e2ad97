"""A small Fashion-MNIST classifier the benchmarks train on the embedded data, and its features.

Used as a judge: its accuracy on generated images of a requested class, and
the Fréchet distance between real and generated images in its 128 features.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kgan.backend import keras_module, use_precision
from kgan.images.embedded import embedded_data_dir
from kgan.images.folders import load_image_folder

keras = keras_module()


@dataclass
class Judge:
    """The classifier, a feature extractor, and the real images it was trained on."""

    classifier: keras.Model
    features: keras.Model
    accuracy: float
    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]

    def predict(self, images: np.ndarray) -> np.ndarray:
        return np.argmax(self.classifier.predict(images, batch_size=500, verbose=0), axis=1)

    def embed(self, images: np.ndarray) -> np.ndarray:
        return self.features.predict(images, batch_size=500, verbose=0)


def train_judge(epochs: int = 5) -> Judge:
    """Train on 5,400 embedded images; accuracy is measured on the other 600."""
    folder = load_image_folder(embedded_data_dir(), resolution=28, channels=1)
    class_names = sorted({name.split("/")[0] for name in folder.files})
    labels = np.array([class_names.index(name.split("/")[0]) for name in folder.files])
    images = np.asarray(folder.images)
    keras.utils.set_random_seed(0)
    use_precision("float32")
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Rescaling(1 / 127.5, offset=-1),
            keras.layers.Conv2D(32, 3, strides=2, activation="relu", padding="same"),
            keras.layers.Conv2D(64, 3, strides=2, activation="relu", padding="same"),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu", name="features"),
            keras.layers.Dense(10),
        ]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    order = np.random.default_rng(0).permutation(len(images))
    train, held_out = order[:5400], order[5400:]
    model.fit(images[train], labels[train], epochs=epochs, batch_size=128, verbose=0)
    accuracy = float(model.evaluate(images[held_out], labels[held_out], verbose=0)[1])
    features = keras.Model(model.inputs, model.get_layer("features").output)
    return Judge(model, features, accuracy, images, labels, class_names)
