"""kgan's speed benchmark, run by hand (never in CI): python bench/throughput.py

Prints, and writes as JSON (--json, default bench/results/throughput.json):

1. the machine's measured matmul peaks in float32 and bfloat16;
2. training images/s for DCGAN-64 (batch 64) and the seed architecture at
   28x28 (batch 128), float32 and mixed bfloat16, each the median of 20 steps
   after warm-up, with FLOPs per trained image counted from the models, the
   GFLOP/s achieved and the fraction of peak;
3. kgan's frozen-D trainer against a plain fused step doing the same math,
   measured alternately (A B A B) so a busy machine hurts both alike; and the
   default recipe's step (28 px gray, 64 px colour) as a graph and with XLA, and the 28 px step
   one per call and four per call (--steps-per-execution), each A B A B;
4. `kgan sample -n 64` and `kgan video --frames 300` wall time from process start;
5. data preparation images/s for 15,000 JPEG photos of 250x250 pixels to 64 px,
   first (decoding) and second (from the data cache), and the first run's peak memory;
6. sample quality at equal steps in float32 and bfloat16: the Fréchet distance
   between real and generated images in the features of a small classifier
   trained here on the embedded data set.

The machine is shared: compare numbers from one run only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from kgan.backend import keras_module, tensorflow_module, use_precision  # noqa: E402

keras = keras_module()
tf = tensorflow_module()

from kgan.gan.batches import plain_batch  # noqa: E402
from kgan.gan.losses import AdversarialLoss  # noqa: E402
from kgan.gan.models import build_discriminator, build_generator  # noqa: E402
from kgan.gan.step import GanSetup, GanTrainer, images_to_unit_range, make_optimizer  # noqa: E402

WARMUP_STEPS = 3
TIMED_STEPS = 20


# 1. Matmul peaks.


def matmul_peak(dtype: str, size: int = 4096, repeats: int = 10) -> float:
    """GFLOP/s of a large square matmul, the best of several timed calls."""
    a = tf.cast(tf.random.normal((size, size)), dtype)
    b = tf.cast(tf.random.normal((size, size)), dtype)
    multiply = tf.function(lambda x, y: tf.reduce_sum(tf.cast(tf.matmul(x, y)[:1, :1], "float32")))
    multiply(a, b)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        multiply(a, b).numpy()
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best / 1e9


# 2. Training throughput and FLOPs.


def forward_flops(model: keras.Model) -> int:
    """Multiply-adds x 2 of one image through the model's dense and convolution layers."""
    total = 0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Dense":
            total += 2 * int(layer.kernel.shape[0]) * int(layer.kernel.shape[1])
        elif kind == "Conv2D":
            _, height, width, _ = layer.output.shape
            total += 2 * height * width * int(np.prod(layer.kernel.shape))
        elif kind == "Conv2DTranspose":
            _, height, width, _ = layer.input.shape
            total += 2 * height * width * int(np.prod(layer.kernel.shape))
    return total


def trained_image_flops(generator: keras.Model, discriminator: keras.Model) -> int:
    """FLOPs per image of one D step plus one G step, backward passes counted as twice the forward.

    D step: G forward, D forward and backward on a real and a fake image:
    F_G + 2 (F_D + 2 F_D). G step: G and D forward, D backward for input
    gradients only (F_D), G backward (2 F_G): 3 F_G + 2 F_D. Sum: 4 F_G + 8 F_D.
    """
    return 4 * forward_flops(generator) + 8 * forward_flops(discriminator)


class FusedBaseline:
    """The same math as GanTrainer in one plain compiled step: no combined model, no stateless calls."""

    def __init__(self, generator, discriminator, from_logits: bool):
        self.generator, self.discriminator, self.from_logits = generator, discriminator, from_logits
        self.g_optimizer = make_optimizer("adam", 2e-4)
        self.d_optimizer = make_optimizer("adam", 2e-4)
        self.g_optimizer.build(generator.trainable_variables)
        self.d_optimizer.build(discriminator.trainable_variables)
        self.step = tf.function(self._step)

    def _bce(self, target: float, outputs):
        outputs = tf.cast(outputs, "float32")
        targets = tf.fill(tf.shape(outputs), target)
        return tf.reduce_mean(keras.ops.binary_crossentropy(targets, outputs, from_logits=self.from_logits))

    def _step(self, real, noise_d, noise_g):
        fakes = self.generator(noise_d, training=True)
        real = tf.cast(images_to_unit_range(real), fakes.dtype)
        d_variables = self.discriminator.trainable_variables
        with tf.GradientTape() as tape:
            loss_d = self._bce(1.0, self.discriminator(real, training=True)) + self._bce(
                0.0, self.discriminator(fakes, training=True)
            )
        self.d_optimizer.apply_gradients(zip(tape.gradient(loss_d, d_variables), d_variables))
        g_variables = self.generator.trainable_variables
        with tf.GradientTape() as tape:
            loss_g = self._bce(1.0, self.discriminator(self.generator(noise_g, training=True), training=True))
        self.g_optimizer.apply_gradients(zip(tape.gradient(loss_g, g_variables), g_variables))
        return loss_d + loss_g


def _models(arch: str, resolution: int, channels: int, precision: str):
    use_precision(precision)
    keras.utils.set_random_seed(0)
    generator = build_generator(resolution, channels, 100, 64, arch)
    discriminator = build_discriminator(resolution, channels, 64, arch)
    return generator, discriminator


def _inputs(resolution: int, channels: int, batch: int, count: int):
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (batch, resolution, resolution, channels), dtype=np.uint8)
    noises = [rng.standard_normal((batch, 100), dtype=np.float32) for _ in range(count + 1)]
    return real, noises


def _time_steps(step, real, noises, count: int) -> list[float]:
    times = []
    for index in range(count):
        started = time.perf_counter()
        step(real, noises[index], noises[index + 1])
        times.append(time.perf_counter() - started)
    return times


def _trainer_step(trainer: GanTrainer):
    """The trainer's step taking (real, D noise, G noise) like the baseline's."""
    return lambda real, noise_d, noise_g: trainer.train_step(plain_batch(real, noise_d, noise_g))


def training_throughput(arch: str, resolution: int, channels: int, batch: int, precision: str, peak: float) -> dict:
    generator, discriminator = _models(arch, resolution, channels, precision)
    output = "logits" if arch == "dcgan" else "probabilities"
    setup = GanSetup(loss=AdversarialLoss("bce", from_logits=output == "logits"))
    trainer = GanTrainer(generator, discriminator, make_optimizer("adam", 2e-4), make_optimizer("adam", 2e-4), setup)
    step = _trainer_step(trainer)
    real, noises = _inputs(resolution, channels, batch, WARMUP_STEPS + TIMED_STEPS)
    _time_steps(step, real, noises, WARMUP_STEPS)
    median = statistics.median(_time_steps(step, real, noises, TIMED_STEPS))
    flops = trained_image_flops(generator, discriminator)
    images_per_second = batch / median
    achieved = images_per_second * flops / 1e9
    use_precision("float32")
    return {
        "arch": arch,
        "resolution": resolution,
        "channels": channels,
        "batch": batch,
        "precision": precision,
        "images_per_second": round(images_per_second, 1),
        "gflop_per_trained_image": round(flops / 1e9, 3),
        "achieved_gflops": round(achieved, 1),
        "fraction_of_peak": round(achieved / peak, 3),
    }


# 3. Frozen-D trainer against a plain fused step.


def trainer_overhead(rounds: int = 6, steps_per_round: int = 10) -> dict:
    """Median step time of GanTrainer and FusedBaseline on DCGAN-64 float32, measured A B A B."""
    results = {}
    contenders = {}
    for name in ("kgan_trainer", "fused_baseline"):
        generator, discriminator = _models("dcgan", 64, 3, "float32")
        if name == "kgan_trainer":
            trainer = GanTrainer(generator, discriminator, make_optimizer("adam", 2e-4), make_optimizer("adam", 2e-4))
            contenders[name] = _trainer_step(trainer)
        else:
            contenders[name] = FusedBaseline(generator, discriminator, from_logits=True).step
    real, noises = _inputs(64, 3, 64, steps_per_round)
    for step in contenders.values():
        _time_steps(step, real, noises, WARMUP_STEPS)
    samples = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, step in contenders.items():
            samples[name].extend(_time_steps(step, real, noises, steps_per_round))
    for name, times in samples.items():
        results[name] = {"median_step_seconds": round(statistics.median(times), 4)}
    ratio = results["kgan_trainer"]["median_step_seconds"] / results["fused_baseline"]["median_step_seconds"]
    results["kgan_over_baseline"] = round(ratio, 3)
    return results


def default_recipe_trainer(resolution: int, channels: int, compiler: str) -> GanTrainer:
    """The trainer `kgan train` builds by default for such images on a CPU, float32, with this compiler."""
    from kgan.gan.augment import parse_policies
    from kgan.gan.ema import make_ema
    from kgan.options import AUTO_EMA_DECAY, FAST_ADAM_LEARNING_RATE, auto_critic_steps, auto_d_norm, default_width

    width, norm = default_width("dcgan", resolution), auto_d_norm(resolution)
    keras.utils.set_random_seed(0)
    generator = build_generator(resolution, channels, 100, width)
    discriminator = build_discriminator(resolution, channels, width, norm=norm)
    # The colour yardstick's 1,569 icons get translation; the gray yardstick's 6,000 images, none.
    augment = parse_policies("translation" if channels == 3 else None)
    setup = GanSetup(augment=augment, critic_steps=auto_critic_steps(norm), ema_decay=AUTO_EMA_DECAY)
    optimizers = [make_optimizer("adam", FAST_ADAM_LEARNING_RATE) for _ in range(2)]
    return GanTrainer(generator, discriminator, *optimizers, setup, ema=make_ema(generator), compiler=compiler)


def compilers(rounds: int = 6, steps_per_round: int = 10, batch: int = 32) -> dict:
    """Median step time of the default recipe as a graph and with XLA, float32, measured A B A B."""
    from kgan.gan.batches import BatchOrder, BatchPlan, make_batch

    results = {}
    for resolution, channels in ((28, 1), (64, 3)):
        trainers = {name: default_recipe_trainer(resolution, channels, name) for name in ("graph", "xla")}
        images = np.random.default_rng(0).integers(0, 256, (500, resolution, resolution, channels), dtype=np.uint8)
        critic_steps = trainers["xla"].setup.critic_steps
        plan = BatchPlan(batch, 100, 0, critic_steps=critic_steps, augment=channels == 3)
        order = BatchOrder(len(images), plan.images_per_step, 0)
        batches = [make_batch(images, np.zeros(len(images), int), order, plan, step) for step in range(steps_per_round)]
        samples: dict[str, list[float]] = {name: [] for name in trainers}
        for round_index in range(rounds + 1):
            for name, trainer in trainers.items():
                times = []
                for current in batches:
                    started = time.perf_counter()
                    trainer.train_step(current)
                    times.append(time.perf_counter() - started)
                if round_index:  # the first round compiles and warms up
                    samples[name].extend(times)
        medians = {name: statistics.median(times) for name, times in samples.items()}
        results[f"{resolution}px"] = {
            **{f"{name}_median_step_seconds": round(value, 4) for name, value in medians.items()},
            "graph_over_xla": round(medians["graph"] / medians["xla"], 3),
        }
    return results


def steps_per_call(rounds: int = 6, groups_per_round: int = 6, per_call: int = 4, batch: int = 32) -> dict:
    """Median time per step of the default 28 px gray recipe with XLA, one step per call against
    ``per_call`` steps unrolled in one call (--steps-per-execution), float32, measured A B A B."""
    from kgan.gan.batches import BatchOrder, BatchPlan, make_batch
    from kgan.options import FAST_ADAM_LEARNING_RATE

    trainers = {"one": default_recipe_trainer(28, 1, "xla"), "several": default_recipe_trainer(28, 1, "xla")}
    images = np.random.default_rng(0).integers(0, 256, (500, 28, 28, 1), dtype=np.uint8)
    plan, order = BatchPlan(batch, 100, 0), BatchOrder(len(images), batch, 0)
    batches = [make_batch(images, np.zeros(len(images), int), order, plan, step) for step in range(per_call)]
    rates = np.full((per_call, 2), FAST_ADAM_LEARNING_RATE)
    samples: dict[str, list[float]] = {name: [] for name in trainers}
    for round_index in range(rounds + 1):
        for _ in range(groups_per_round):
            started = time.perf_counter()
            for current in batches:
                trainers["one"].train_step(current)
            one = (time.perf_counter() - started) / per_call
            started = time.perf_counter()
            trainers["several"].train_steps(batches, rates)
            several = (time.perf_counter() - started) / per_call
            if round_index:  # the first round compiles and warms up
                samples["one"].append(one)
                samples["several"].append(several)
    medians = {name: statistics.median(times) for name, times in samples.items()}
    return {
        "steps_per_call": per_call,
        "one_per_call_median_step_seconds": round(medians["one"], 4),
        "several_per_call_median_step_seconds": round(medians["several"], 4),
        "one_over_several": round(medians["one"] / medians["several"], 3),
    }


# 4. Sample and video wall time.


def command_wall_times(work: Path) -> dict:
    """Train a DCGAN-64 run for a few steps, then time `kgan sample` and `kgan video` as a user runs them."""
    images = work / "tiny-photos"
    make_photos(images, 64, size=96)
    env = {**os.environ, "KGAN_CACHE_DIR": str(work / "cache")}
    kgan = [sys.executable, "-m", "kgan"]
    runs = work / "runs"
    subprocess.run(
        [*kgan, "train", str(images), "--resolution", "64", "--steps", "5", "--runs-dir", str(runs), "--quiet"],
        check=True,
        cwd=REPO,
        env=env,
    )
    timings = {}
    for name, arguments in (
        ("sample_n64_seconds", ["sample", "-n", "64", "--out", str(work / "sampled")]),
        ("video_frames300_seconds", ["video", "--frames", "300", "--out", str(work / "walk.mp4")]),
    ):
        started = time.perf_counter()
        subprocess.run([*kgan, *arguments, "--runs-dir", str(runs)], check=True, cwd=REPO, env=env, capture_output=True)
        timings[name] = round(time.perf_counter() - started, 2)
    return timings


# 5. Data preparation.


def make_photos(folder: Path, count: int, size: int = 250) -> Path:
    """Photo-like JPEGs (smooth colour fields with noise and shapes), made once and reused."""
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    existing = len(list(folder.glob("*.jpg")))
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:size, :size] / size
    for index in range(existing, count):
        colours = rng.uniform(0, 255, (3, 3))
        field = colours[0] * xx[..., None] + colours[1] * yy[..., None] + colours[2] * (1 - xx * yy)[..., None]
        field = field / 2 + rng.normal(0, 12, (size, size, 3))
        image = Image.fromarray(np.clip(field, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        for _ in range(4):
            x, y = rng.integers(0, size, 2)
            radius = int(rng.integers(10, size // 3))
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=tuple(rng.integers(0, 256, 3)))
        image.save(folder / f"photo-{index:05d}.jpg", quality=90)
    return folder


_PREPARE = """
import json, resource, sys, time
sys.path.insert(0, {repo!r})
from pathlib import Path
from kgan.images.folders import load_image_folder
started = time.perf_counter()
folder = load_image_folder(Path({folder!r}), resolution=64, cache_dir=Path({cache!r}))
seconds = time.perf_counter() - started
# VmHWM is this process's own peak; ru_maxrss would include the parent's at fork.
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({{"seconds": seconds, "images": len(folder.files), "cache": folder.cache,
                  "peak_rss_mb": peak / 1024}}))
"""


def data_preparation(work: Path, count: int) -> dict:
    """First and second preparation of `count` photos to 64 px, each in a fresh process."""
    folder = make_photos(Path(tempfile.gettempdir()) / "kgan-bench-photos", count)
    cache = work / "data-cache"
    results = {}
    for name in ("first", "second"):
        code = _PREPARE.format(repo=str(REPO), folder=str(folder), cache=str(cache))
        output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
        measured = json.loads(output.stdout.strip().splitlines()[-1])
        results[name] = {
            "seconds": round(measured["seconds"], 2),
            "images_per_second": round(measured["images"] / measured["seconds"]),
            "cache": measured["cache"],
            "peak_rss_mb": round(measured["peak_rss_mb"]),
        }
    results["images"] = count
    results["array_mb"] = round(count * 64 * 64 * 3 / 2**20)
    return results


# 6. Quality at equal steps, float32 against bfloat16.


def quality_at_equal_steps(steps: int) -> dict:
    from classifier import train_judge

    from kgan.tools.metrics import frechet_distance_of

    judge = train_judge()
    images = judge.images
    real_features = judge.embed(images)
    half = len(real_features) // 2
    results = {"classifier_accuracy": round(judge.accuracy, 3), "steps": steps}
    shuffled = np.random.default_rng(0).permutation(len(real_features))
    results["real_vs_real_fd"] = round(
        frechet_distance_of(real_features[shuffled[:half]], real_features[shuffled[half:]]), 2
    )
    from kgan.gan.batches import BatchOrder, BatchPlan, make_batch

    labels = np.zeros(len(images), dtype=np.int64)
    for precision in ("float32", "bfloat16"):
        generator, discriminator = _models("dcgan", 28, 1, precision)
        trainer = GanTrainer(generator, discriminator, make_optimizer("adam", 2e-4), make_optimizer("adam", 2e-4))
        order = BatchOrder(len(images), 64, seed=0)
        plan = BatchPlan(64, 100, seed=0)
        started = time.perf_counter()
        for step in range(steps):
            trainer.train_step(make_batch(images, labels, order, plan, step))
        seconds = time.perf_counter() - started
        noise = np.random.default_rng(5).standard_normal((6000, 100), dtype=np.float32)
        generated = np.concatenate(
            [np.asarray(generator(noise[i : i + 500], training=False), dtype=np.float32) for i in range(0, 6000, 500)]
        )
        generated = np.clip(np.rint((generated + 1) * 127.5), 0, 255).astype(np.uint8)
        fake_features = judge.embed(generated)
        results[precision] = {
            "fd": round(frechet_distance_of(real_features, fake_features), 4),
            "train_seconds": round(seconds, 1),
        }
        use_precision("float32")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "throughput.json")
    parser.add_argument("--photos", type=int, default=15000, help="photos for the data preparation test")
    parser.add_argument("--quality-steps", type=int, default=3000, help="training steps per precision (0: skip)")
    sections = "train,overhead,compile,commands,data"
    parser.add_argument("--skip", default="", help=f"comma-separated sections to skip: {sections}")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    report: dict = {"machine": {"cpus": os.cpu_count(), "tensorflow": tf.__version__, "keras": keras.__version__}}

    def show(title: str, value) -> None:
        print(f"\n== {title}\n{json.dumps(value, indent=2)}", flush=True)

    peaks = {"float32": matmul_peak("float32"), "bfloat16": matmul_peak("bfloat16")}
    report["matmul_peak_gflops"] = {name: round(value, 1) for name, value in peaks.items()}
    show("matmul peaks (GFLOP/s)", report["matmul_peak_gflops"])

    if "train" not in skip:
        report["training"] = [
            training_throughput(arch, resolution, channels, batch, precision, peaks[precision])
            for arch, resolution, channels, batch in (("dcgan", 64, 3, 64), ("seed", 28, 1, 128))
            for precision in ("float32", "bfloat16")
        ]
        show("training throughput", report["training"])
    if "overhead" not in skip:
        report["frozen_d_trainer_vs_fused_step"] = trainer_overhead()
        show("frozen-D trainer vs a plain fused step (DCGAN-64, float32)", report["frozen_d_trainer_vs_fused_step"])
    if "compile" not in skip:
        report["default_recipe_graph_vs_xla"] = compilers()
        show("the default recipe's step, graph against XLA (float32, batch 32)", report["default_recipe_graph_vs_xla"])
        report["default_28px_steps_per_call"] = steps_per_call()
        title = "the default 28 px XLA step, one and four per call (float32, batch 32)"
        show(title, report["default_28px_steps_per_call"])
    with tempfile.TemporaryDirectory(prefix="kgan-bench-") as work:
        if "commands" not in skip:
            report["commands"] = command_wall_times(Path(work))
            show("wall time from process start", report["commands"])
        if "data" not in skip:
            report["data_preparation"] = data_preparation(Path(work), args.photos)
            show(f"data preparation ({args.photos} JPEG photos 250x250 to 64 px)", report["data_preparation"])
    if args.quality_steps:
        report["quality"] = quality_at_equal_steps(args.quality_steps)
        show("quality at equal steps (Fréchet distance in classifier features; lower is better)", report["quality"])
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
