"""The names of the GAN family's pieces, importable without TensorFlow.

Options are checked against these names before anything heavy loads; the
modules that build the pieces (kgan.gan.models, kgan.gan.losses) use the same
names.
"""

from __future__ import annotations

ARCHITECTURES = ("dcgan", "lean", "seed")
# The discriminator's last layer: logits for dcgan and lean, probabilities for the seed's sigmoid.
DISCRIMINATOR_OUTPUT = {"dcgan": "logits", "lean": "logits", "seed": "probabilities"}
LOSSES = ("bce", "wgan-gp", "hinge", "relativistic")
OPTIMIZERS = ("adam", "sgd")
# What normalises D's layers: nothing (the first wave's default), batch norm (DCGAN's paper) or
# spectral normalization of every weight (Miyato et al. 2018).
D_NORMS = ("none", "batch", "spectral")
# What D sees besides pixels: nothing, or a frozen ImageNet network's features (EfficientNet-Lite1;
# the projected discriminator of kgan.gan.projected).
D_FEATURES = ("none", "lite1")
# The projected discriminator: Lite1's blocks whose output feature maps it judges, and how many
# times its pixel D's logit is repeated among its scores (the loss averages the columns). At 8
# minutes on 64 px colour icons (AMX Xeon, one A B pair each) a weight of 2 drew 0.98 of 4's colour
# distance and 0.78 of its patch distance (larger filled shapes, hatched fills), 8 drew 1.06 and
# 1.06, and 2 with half-width projections 0.99 and 1.00: level, so 4 stays.
# Deeper taps, against (3, 6) (8 minutes, 64 px colour icons, AVX-512 BF16 EPYC, one A B pair each;
# colour, patch and identity-net distance): (6, 14) drew 0.99, 0.96 and 1.16 (smoother shapes, less
# hatching, as many repeated motifs); (14) alone 1.13, 1.08 and 1.18 (bowl- and box-like shapes, few
# of them, repeated). A further score from block 20's (or 14's) pooled features through a spectrally
# normalized 256-unit layer, as in vision-aided GANs, drew 0.90, 1.41 and 1.23 (0.96, 1.02, 1.29) at
# 0.72x (0.82x) the steps: closer only in the ImageNet features that judge it.
PROJECTED_TAPS = (3, 6)
PIXEL_WEIGHT = 4


def score_columns(d_features: str) -> int:
    """How many of D's output columns are adversarial scores (the rest are auxiliary outputs)."""
    return PIXEL_WEIGHT + len(PROJECTED_TAPS) if d_features == "lite1" else 1


# What G's weights and D's convolutions start from: the DCGAN paper's N(0, 0.02), or Keras's Glorot uniform.
INITS = ("dcgan", "glorot")
# Architectures whose step XLA cannot make repeatable (--seed): the seed's max pooling has no
# deterministic XLA gradient, so their seeded runs compile a graph.
NOT_DETERMINISTIC_IN_XLA = ("seed",)
