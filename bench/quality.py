"""Does the GAN family do what it says? Run by hand (never in CI): python bench/quality.py

On the embedded Fashion-MNIST subset, each with a fixed step budget, trained
through kgan's own training function:

1. conditional: a classifier trained here on the real images labels samples of
   each requested class; the share it labels as requested (target: >= 80%);
2. InfoGAN: how well the 10-valued categorical code, learned without labels,
   agrees with the classifier's classes (purity and normalised mutual
   information, against the same numbers for codes shuffled at random);
3. WGAN-GP: the critic's Wasserstein estimate and the Fréchet distance in the
   classifier's features, at regular steps: both should fall.

Prints everything and writes JSON (--json, default bench/results/quality.json).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from classifier import Judge, train_judge  # noqa: E402

from kgan.images.embedded import embedded_data_dir  # noqa: E402
from kgan.loop import train  # noqa: E402
from kgan.options import TrainOptions  # noqa: E402
from kgan.random_streams import noise_for_seed  # noqa: E402
from kgan.runs import Run  # noqa: E402
from kgan.tools.generator import generate, load_generator_source  # noqa: E402
from kgan.tools.metrics import frechet_distance_of  # noqa: E402

PER_CLASS = 500


def _train(runs: Path, name: str, steps: int, **options) -> Run:
    settings = TrainOptions(
        data_dir=embedded_data_dir(),
        runs_dir=runs,
        name=name,
        steps=steps,
        seed=1,
        sample_every=max(1, steps // 10),
        checkpoint_every=options.pop("checkpoint_every", steps),
        keep_checkpoints=options.pop("keep_checkpoints", 1),
        ema=0.999,
        **options,
    )
    print(f"training {name}: {steps} steps", flush=True)
    return train(settings).run


def conditional(runs: Path, judge: Judge, steps: int) -> dict:
    run = _train(runs, "conditional", steps, conditional=True)
    source = load_generator_source(str(run.path), runs)
    condition = source.condition
    requested = np.repeat(np.arange(len(condition.classes)), PER_CLASS)
    noise = noise_for_seed(11, len(requested), source.latent_dim)
    images = generate(source.generator, np.concatenate([noise, condition.one_hot(requested)], axis=1))
    # The classifier's class order is the same sorted folder order as the run's.
    assert list(condition.classes) == judge.class_names
    predicted = judge.predict(images)
    per_class = {
        name: round(float(np.mean(predicted[requested == index] == index)), 3)
        for index, name in enumerate(condition.classes)
    }
    return {"steps": steps, "accuracy": round(float(np.mean(predicted == requested)), 3), "per_class": per_class}


def _purity(codes: np.ndarray, classes: np.ndarray) -> float:
    matched = sum(np.bincount(classes[codes == code]).max() for code in np.unique(codes))
    return matched / len(codes)


def _normalised_mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    joint = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(joint, (a, b), 1)
    joint /= joint.sum()
    pa, pb = joint.sum(axis=1), joint.sum(axis=0)
    nonzero = joint > 0
    mutual = np.sum(joint[nonzero] * np.log(joint[nonzero] / np.outer(pa, pb)[nonzero]))

    def entropy(p):
        return -np.sum(p[p > 0] * np.log(p[p > 0]))

    return float(mutual / np.sqrt(entropy(pa) * entropy(pb)))


def info_gan(runs: Path, judge: Judge, steps: int) -> dict:
    run = _train(runs, "infogan", steps, info_codes=True, info_categories=10, info_continuous=2)
    source = load_generator_source(str(run.path), runs)
    info = source.condition
    categories = np.repeat(np.arange(info.categories), PER_CLASS)
    rng = np.random.default_rng(3)
    codes = info.codes_for_fakes(rng, np.zeros(len(categories), dtype=np.int64))
    codes = info.with_code(codes, 0, np.eye(info.categories, dtype=np.float32)[categories])
    noise = noise_for_seed(12, len(categories), source.latent_dim)
    predicted = judge.predict(generate(source.generator, np.concatenate([noise, codes], axis=1)))
    shuffled = rng.permutation(categories)
    return {
        "steps": steps,
        "purity": round(_purity(categories, predicted), 3),
        "purity_of_shuffled_codes": round(_purity(shuffled, predicted), 3),
        "nmi": round(_normalised_mutual_information(categories, predicted), 3),
        "nmi_of_shuffled_codes": round(_normalised_mutual_information(shuffled, predicted), 3),
        "majority_class_per_category": [
            judge.class_names[np.bincount(predicted[categories == c], minlength=10).argmax()]
            for c in range(info.categories)
        ],
    }


def wgan_gp(runs: Path, judge: Judge, steps: int, points: int = 6) -> dict:
    every = max(1, steps // points)
    run = _train(runs, "wgan-gp", steps, loss="wgan-gp", checkpoint_every=every, keep_checkpoints=points + 1)
    real_features = judge.embed(judge.images)
    records = list(run.loss_records())
    curve = []
    for checkpoint in run.checkpoints():
        source = load_generator_source(str(checkpoint.path), runs)
        step = source.step
        noise = noise_for_seed(13, 6000, source.latent_dim)
        fake_features = judge.embed(generate(source.generator, noise))
        window = [r["extras"]["w_distance"] for r in records if step - every < r["step"] <= step]
        curve.append(
            {
                "step": step,
                "wasserstein_estimate": round(float(np.mean(window)), 3),
                "fd": round(frechet_distance_of(real_features, fake_features), 2),
            }
        )
    return {"steps": steps, "curve": curve}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "quality.json")
    parser.add_argument("--steps", type=int, default=3000, help="steps for the conditional and InfoGAN runs")
    parser.add_argument("--wgan-steps", type=int, default=1800)
    args = parser.parse_args()
    judge = train_judge()
    report = {"classifier_accuracy": round(judge.accuracy, 3)}
    print(f"classifier accuracy on held-out real images: {judge.accuracy:.3f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="kgan-quality-") as work:
        runs = Path(work)
        for name, measure, steps in (
            ("conditional", conditional, args.steps),
            ("infogan", info_gan, args.steps),
            ("wgan_gp", wgan_gp, args.wgan_steps),
        ):
            report[name] = measure(runs, judge, steps)
            print(f"\n== {name}\n{json.dumps(report[name], indent=2)}", flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
