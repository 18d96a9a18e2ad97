"""The names of the GAN family's pieces, importable without TensorFlow.

Options are checked against these names before anything heavy loads; the
modules that build the pieces (kgan.gan.models, kgan.gan.losses) use the same
names.
"""

from __future__ import annotations

ARCHITECTURES = ("dcgan", "seed")
# The discriminator's last layer: logits for dcgan, probabilities for the seed's sigmoid.
DISCRIMINATOR_OUTPUT = {"dcgan": "logits", "seed": "probabilities"}
LOSSES = ("bce", "wgan-gp", "hinge")
OPTIMIZERS = ("adam", "sgd")
