"""Pictures per minute: kgan's default recipe against the PyTorch DCGAN example, same machine, same wall-clock budgets.

Run by hand (never in CI), after bench/setup_quality_bench.sh, on an otherwise idle machine:

    python3 bench/picture_quality.py                       # budgets 2, 4, 8 minutes, both yardsticks
    python3 bench/picture_quality.py --budgets 0.2,0.4     # a quick check that everything works
    python3 bench/picture_quality.py --no-reference --recipe old="--arch seed" --baseline kgan   # an ablation
    python3 bench/picture_quality.py --budgets 8 --repeats 2 ...   # each recipe twice, means reported
    python3 bench/picture_quality.py --budgets 4 --no-reference --recipe first-wave --baseline first-wave

For every budget, for every yardstick, it trains each recipe in turn (kgan recipes first, then the
reference: A B A B ...), each for the same number of minutes, draws n pictures from it (kgan:
`kgan sample --seed 0`; the reference: noise seed 0) and scores them with the yardstick. With
--repeats R it does that R times over (A B A B again), and the tables add each recipe's mean:
a single GAN run's distance can move by a quarter between runs of the same recipe.

- gray: `kgan train` on kgan's embedded Fashion-MNIST subset (6,000 training images); the
  reference trains on the same files resized to 32 px. Fréchet distance in a Fashion-MNIST
  classifier's features against 2,000 images of the test split (see bench/quality_yardsticks.py).
- color: both train on /work/benchdata/icons/train (64 px clip-art icons with transparency, from
  Debian's openclipart-png; see bench/icon_set.py) at 64 px; Fréchet distance in EfficientNet-Lite0's
  ImageNet features against the held-back icons.

Beside each Fréchet distance the table gives a network-free second opinion, the patch distance of
bench/patch_distance.py, against the same real pictures: a change is believed only when both move.
The colour yardstick gets a third, with no ImageNet in it: the Fréchet distance in a small network
trained here from scratch on the training icons (bench/identity_distance.py), which sees shapes
where the patch distance sees only pixels.

kgan is called only through its command line (`kgan train DIR --minutes M --runs-dir R --name N`),
with no recipe options unless --kgan-args or --recipe give some. It writes a table (printed, and as
JSON and Markdown), a plot of distance against minutes and an 8x8 grid of every run's pictures to
bench/results/picture_quality-TIMESTAMP/. Runs and samples go to --work-dir.

It re-executes itself with the benchmark's environment (/work/benchdata/refenv, or $KGAN_BENCH_ENV),
which holds CPU PyTorch, the feature network and matplotlib; kgan is never imported.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
BENCH_ENV = Path(os.environ.get("KGAN_BENCH_ENV", "/work/benchdata/refenv"))


def switch_to_bench_env() -> None:
    """Re-run this script with the benchmark environment's Python unless it already runs there."""
    bench_python = BENCH_ENV / "bin" / "python"
    if Path(sys.prefix).resolve() == BENCH_ENV.resolve():
        return
    if not bench_python.exists():
        sys.exit(f"{bench_python} not found: run bench/setup_quality_bench.sh first")
    os.execv(str(bench_python), [str(bench_python), str(Path(__file__).resolve()), *sys.argv[1:]])


if __name__ == "__main__":
    switch_to_bench_env()

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import datetime  # noqa: E402
from itertools import product  # noqa: E402

sys.path.insert(0, str(BENCH))

from identity_distance import identity_yardstick  # noqa: E402
from quality_yardsticks import YARDSTICK_BUILDERS, Yardstick, picture_files  # noqa: E402

REFERENCE = "reference"
GRID_SIDE = 8
# The first wave's `kgan train` (the no-worse-than-before table), as options for today's kgan: every option
# whose "auto" came later is pinned to what the first wave did, so no later default leaks in. A kgan run
# of this recipe whose config.json lists any automatic choice is flagged in the results (an option added
# since, whose auto value this list does not pin yet).
FIRST_WAVE = "first-wave"
FIRST_WAVE_OPTIONS = [
    "--arch", "dcgan", "--width", "64", "--g-width", "64", "--batch-size", "64", "--g-lr", "2e-4", "--d-lr", "2e-4",
    "--init", "glorot", "--d-norm", "none", "--d-features", "none", "--critic-steps", "1", "--ema", "off",
    "--lookahead", "off", "--lr-cooldown", "off", "--grow", "off", "--augment", "off", "--mirror", "off",
    "--compile", "graph", "--steps-per-execution", "1",
]  # fmt: skip


@dataclass
class Recipe:
    """A named way to train: kgan with these extra options, or the reference DCGAN."""

    name: str
    kgan_options: list[str] = field(default_factory=list)
    is_reference: bool = False

    def describe(self, kgan_args: list[str]) -> str:
        """The recipe as a person would type it."""
        if self.is_reference:
            return "PyTorch examples/dcgan recipe (bench/reference_dcgan.py)"
        return shlex.join(["kgan", "train", "DIR", "--minutes", "M", *kgan_args, *self.kgan_options])


@dataclass
class TrainingSet:
    """What a yardstick's recipes train on, and the reference's resolution for it."""

    folder: Path
    reference_resolution: int
    reference_channels: int


def parse_recipe(text: str) -> Recipe:
    """NAME=OPTIONS (OPTIONS may be empty) as a kgan recipe, or the built-in first-wave."""
    name, separator, options = text.partition("=")
    name = name.strip()
    if name == FIRST_WAVE and not separator:
        return Recipe(FIRST_WAVE, list(FIRST_WAVE_OPTIONS))
    if not separator or not name or name == REFERENCE:
        raise argparse.ArgumentTypeError(
            f'--recipe wants NAME="KGAN OPTIONS" with a name other than {REFERENCE}, or {FIRST_WAVE}'
        )
    return Recipe(name, shlex.split(options))


def parse_budgets(text: str) -> list[float]:
    """Comma-separated positive minutes."""
    try:
        budgets = [float(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"budgets must be numbers: {text}") from error
    if not budgets or min(budgets) <= 0:
        raise argparse.ArgumentTypeError("budgets must be positive minutes")
    return budgets


def parse_yardsticks(text: str) -> list[str]:
    """Comma-separated yardstick names (gray, color; colour is accepted)."""
    names = [part.strip().replace("colour", "color") for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in YARDSTICK_BUILDERS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"yardsticks are {', '.join(YARDSTICK_BUILDERS)}; got {text}")
    return names


def run_logged(command: list[str], log: Path, cwd: Path) -> tuple[int, float]:
    """Run a command with its output going to log; return its exit code and wall-clock seconds."""
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log.open("w") as stream:
        stream.write(shlex.join(command) + "\n")
        stream.flush()
        code = subprocess.run(command, stdout=stream, stderr=subprocess.STDOUT, cwd=cwd, check=False).returncode
    return code, time.monotonic() - started


def last_json_line(path: Path) -> dict:
    """The last JSON line of a file, or {} if there is none."""
    if not path.exists():
        return {}
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return json.loads(lines[-1]) if lines else {}


def train_and_sample_kgan(
    args: argparse.Namespace, recipe: Recipe, data: TrainingSet, minutes: float, run_name: str, samples: Path
) -> dict:
    """`kgan train` for the budget, then `kgan sample`; returns steps, timings and the commands."""
    runs_dir = args.work_dir / "runs"
    train = [str(args.kgan), "train", str(data.folder), "--minutes", f"{minutes:g}"]
    train += ["--runs-dir", str(runs_dir), "--name", run_name]
    if args.seed is not None:
        train += ["--seed", str(args.seed)]
    train += args.kgan_args + recipe.kgan_options
    code, train_wall = run_logged(train, args.work_dir / "logs" / f"{run_name}-train.log", args.work_dir)
    if code != 0:
        return {"error": f"kgan train exited {code}", "command": shlex.join(train)}
    sample = [str(args.kgan), "sample", "--run", str(runs_dir / run_name), "-n", str(args.n), "--seed", "0"]
    sample += ["--out", str(samples)]
    code, _ = run_logged(sample, args.work_dir / "logs" / f"{run_name}-sample.log", args.work_dir)
    if code != 0:
        return {"error": f"kgan sample exited {code}", "command": shlex.join(train)}
    last_step = last_json_line(runs_dir / run_name / "logs" / "losses.jsonl")
    config = json.loads((runs_dir / run_name / "config.json").read_text())
    return {
        "command": shlex.join(train),
        "steps": last_step.get("step"),
        "train_seconds": last_step.get("elapsed_seconds"),
        "images_per_second": last_step.get("images_per_second"),
        "process_seconds": train_wall,
        "resolution": config.get("model", {}).get("resolution"),
        "choices": config.get("choices", {}),
    }


def train_and_sample_reference(
    args: argparse.Namespace, data: TrainingSet, minutes: float, run_name: str, samples: Path
) -> dict:
    """The reference DCGAN for the budget, writing its pictures to samples; returns steps and timings."""
    command = [sys.executable, str(BENCH / "reference_dcgan.py"), str(data.folder), "--minutes", f"{minutes:g}"]
    command += ["--resolution", str(data.reference_resolution), "--channels", str(data.reference_channels)]
    command += ["--out", str(samples), "-n", str(args.n), "--sample-seed", "0"]
    if args.seed is not None:
        command += ["--seed", str(args.seed)]
    code, wall = run_logged(command, args.work_dir / "logs" / f"{run_name}-train.log", args.work_dir)
    if code != 0:
        return {"error": f"reference exited {code}", "command": shlex.join(command)}
    stats = json.loads((samples / "stats.json").read_text())
    return {
        "command": shlex.join(command),
        "steps": stats["steps"],
        "train_seconds": stats["train_seconds"],
        "images_per_second": stats["images_per_second"],
        "process_seconds": wall,
        "resolution": stats["resolution"],
    }


def save_grid(samples: Path, path: Path, side: int = GRID_SIDE) -> None:
    """An 8x8 grid of the first 64 pictures (on white, 2 px gaps), enlarged to at least 64 px a cell."""
    from PIL import Image

    files = picture_files(samples)[: side * side]
    if not files:
        return
    with Image.open(files[0]) as first:
        cell = first.width
    scale = max(1, -(-64 // cell))
    step = cell * scale + 2
    grid = Image.new("RGB", (side * step + 2, side * step + 2), (128, 128, 128))
    for index, file in enumerate(files):
        with Image.open(file) as picture:
            picture = picture.convert("RGBA")
            picture = Image.alpha_composite(Image.new("RGBA", picture.size, (255, 255, 255, 255)), picture)
            picture = picture.convert("RGB").resize((cell * scale, cell * scale), Image.NEAREST)
        grid.paste(picture, (2 + (index % side) * step, 2 + (index // side) * step))
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.save(path)


def add_ratios(rows: list[dict], baseline: str) -> None:
    """Each row's distances divided by the baseline recipe's at the same yardstick, budget and repeat."""
    for key, ratio_key in (
        ("distance", "ratio"),
        ("patch_distance", "patch_ratio"),
        ("identity_distance", "identity_ratio"),
    ):
        baseline_distance = {
            (row["yardstick"], row["minutes"], row.get("repeat", 1)): row[key]
            for row in rows
            if row["recipe"] == baseline and row.get(key) is not None
        }
        for row in rows:
            reference = baseline_distance.get((row["yardstick"], row["minutes"], row.get("repeat", 1)))
            has_both = row.get(key) is not None and reference
            row[ratio_key] = row[key] / reference if has_both else None


def mean_rows(rows: list[dict], baseline: str) -> list[dict]:
    """One row per yardstick, budget and recipe: the mean distance and steps over the repeats that
    finished, and the ratio of the mean to the baseline's mean."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        if row.get("distance") is not None:
            groups.setdefault((row["yardstick"], row["minutes"], row["recipe"]), []).append(row)
    means = [
        {
            "yardstick": yardstick,
            "minutes": minutes,
            "recipe": recipe,
            "runs": len(group),
            "steps": round(sum(row["steps"] or 0 for row in group) / len(group)),
            "distance": sum(row["distance"] for row in group) / len(group),
            "spread": (min(row["distance"] for row in group), max(row["distance"] for row in group)),
        }
        for (yardstick, minutes, recipe), group in groups.items()
    ]
    baseline_mean = {(row["yardstick"], row["minutes"]): row["distance"] for row in means if row["recipe"] == baseline}
    for row in means:
        reference = baseline_mean.get((row["yardstick"], row["minutes"]))
        row["ratio"] = row["distance"] / reference if reference else None
    return means


def markdown_table(report: dict) -> str:
    """The results as Markdown: one table per yardstick, with the floor and each recipe's command."""
    baseline = report["baseline"]
    lines = [f"# Picture quality per minute ({report['started']}, {report['machine']})", ""]
    lines += [f"Command: `{report['command']}`", "", "Recipes:", ""]
    lines += [f"- **{name}**: `{command}`" for name, command in report["recipes"].items()]
    first_wave_rows = [row for row in report["rows"] if row["recipe"] == FIRST_WAVE]
    leaks = sorted({choice for row in first_wave_rows for choice in row.get("choices", {})})
    if leaks:
        lines += ["", f"**Warning**: {FIRST_WAVE} left these options to today's auto: {', '.join(leaks)}."]
    means = mean_rows(report["rows"], baseline) if report.get("repeats", 1) > 1 else []
    for name, yardstick in report["yardsticks"].items():
        lines += ["", f"## {name}", "", yardstick["description"], ""]
        lines += [f"Real-vs-real floor: **{yardstick['floor']:.3f}**", ""]
        if yardstick.get("patch_floor") is not None:
            lines += [
                "Patches: the network-free second opinion (bench/patch_distance.py; sliced Wasserstein "
                f"distance of 7x7 Laplacian-pyramid patches, x 1,000); its floor: {yardstick['patch_floor']:.1f}",
                "",
            ]
        identity = yardstick.get("identity_floor") is not None
        if identity:
            lines += [
                f"Identity net: the no-ImageNet opinion ({yardstick['identity_description']}); "
                f"its floor: {yardstick['identity_floor']:.2f}",
                "",
            ]
        columns = f"minutes | repeat | recipe | steps | images/s | distance | ratio to {baseline} | floor"
        lines += [f"| {columns} | patches | ratio |" + (" identity net | ratio |" if identity else "")]
        lines += [
            "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |" + (" ---: | ---: |" * identity)
        ]
        for row in report["rows"]:
            if row["yardstick"] != name:
                continue
            distance = "failed: " + row["error"] if row.get("error") else f"{row['distance']:.3f}"
            ratio = f"{row['ratio']:.2f}" if row.get("ratio") is not None else "–"
            speed = f"{row['images_per_second']:,.0f}" if row.get("images_per_second") else "–"
            patches = f"{row['patch_distance']:.1f}" if row.get("patch_distance") is not None else "–"
            patch_ratio = f"{row['patch_ratio']:.2f}" if row.get("patch_ratio") is not None else "–"
            line = (
                f"| {row['minutes']:g} | {row.get('repeat', 1)} | {row['recipe']} | {row.get('steps') or '–'} | "
                f"{speed} | {distance} | {ratio} | {yardstick['floor']:.3f} | {patches} | {patch_ratio} |"
            )
            if identity:
                shapes = f"{row['identity_distance']:.2f}" if row.get("identity_distance") is not None else "–"
                shape_ratio = f"{row['identity_ratio']:.2f}" if row.get("identity_ratio") is not None else "–"
                line += f" {shapes} | {shape_ratio} |"
            lines.append(line)
        if means:
            lines += ["", f"Means over the repeats ({name}):", ""]
            header = "| minutes | recipe | runs | mean steps | mean distance | lowest-highest |"
            lines += [f"{header} ratio to {baseline} |"]
            lines += ["| ---: | --- | ---: | ---: | ---: | --- | ---: |"]
            for row in means:
                if row["yardstick"] == name:
                    ratio = f"{row['ratio']:.2f}" if row["ratio"] is not None else "–"
                    low, high = row["spread"]
                    lines.append(
                        f"| {row['minutes']:g} | {row['recipe']} | {row['runs']} | {row['steps']} | "
                        f"{row['distance']:.3f} | {low:.1f}-{high:.1f} | {ratio} |"
                    )
    return "\n".join(lines) + "\n"


def plot_distances(report: dict, path: Path) -> None:
    """Distance against minutes, one line per recipe, one panel per yardstick, the floor dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["yardsticks"])
    means = mean_rows(report["rows"], report["baseline"])
    figure, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 4.5), squeeze=False)
    for axis, name in zip(axes[0], names):
        for recipe in report["recipes"]:
            points = sorted(
                (row["minutes"], row["distance"])
                for row in means
                if row["yardstick"] == name and row["recipe"] == recipe
            )
            if points:
                style = "s--" if recipe == REFERENCE else "o-"
                axis.plot(*zip(*points), style, label=recipe)
        axis.axhline(report["yardsticks"][name]["floor"], color="gray", linestyle=":", label="real vs real")
        axis.set_yscale("log")
        axis.set_xlim(0, max(report["budgets"]) * 1.1)
        axis.set_xticks(report["budgets"])
        axis.set_xlabel("training minutes (wall clock)")
        axis.set_ylabel("Fréchet distance (lower is better)")
        axis.set_title(f"{name}: {'Fashion-MNIST classifier' if name == 'gray' else 'EfficientNet-Lite0'} features")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    figure.suptitle(f"Picture quality per minute, {report['started']}")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_report(report: dict, folder: Path) -> None:
    """results.json, results.md and distance_vs_minutes.png in folder."""
    add_ratios(report["rows"], report["baseline"])
    (folder / "results.json").write_text(json.dumps(report, indent=1))
    (folder / "results.md").write_text(markdown_table(report))
    if any(row.get("distance") is not None for row in report["rows"]):
        plot_distances(report, folder / "distance_vs_minutes.png")


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--budgets", type=parse_budgets, default=[2.0, 4.0, 8.0], help="minutes, e.g. 2,4,8")
    parser.add_argument("--yardstick", type=parse_yardsticks, default=["gray", "color"], help="gray,color")
    parser.add_argument(
        "--kgan-args", type=shlex.split, default=[], help='extra options for every kgan recipe, e.g. "--arch dcgan"'
    )
    parser.add_argument(
        "--recipe",
        type=parse_recipe,
        action="append",
        default=[],
        metavar="NAME=OPTIONS",
        help=f'another kgan recipe, e.g. old="--arch seed", or {FIRST_WAVE} (repeatable; ablation tables)',
    )
    parser.add_argument("--no-default-recipe", action="store_true", help="leave out the plain `kgan` recipe")
    parser.add_argument("--no-reference", action="store_true", help="leave out the PyTorch reference")
    parser.add_argument("--baseline", default=REFERENCE, help="recipe the ratios divide by [reference]")
    parser.add_argument(
        "--repeats", type=int, default=1, help="train every recipe this many times (A B A B ...); means reported [1]"
    )
    parser.add_argument("-n", type=int, default=2000, help="pictures drawn from each run [2000]")
    parser.add_argument("--seed", type=int, help="pass --seed to kgan and seed the reference (default: random)")
    parser.add_argument("--kgan", type=Path, default=REPO / ".venv" / "bin" / "kgan", help="the kgan command")
    parser.add_argument("--gray-data", type=Path, default=REPO / "data", help="gray training folder [data/]")
    parser.add_argument("--icons", type=Path, default=Path("/work/benchdata/icons"), help="train/ and heldout/")
    parser.add_argument("--cache-dir", type=Path, default=Path("/work/benchdata/cache"), help="classifier, features")
    parser.add_argument("--work-dir", type=Path, help="runs and samples [/work/benchdata/picture-quality/STAMP]")
    parser.add_argument("--results-dir", type=Path, default=BENCH / "results", help="[bench/results]")
    args = parser.parse_args(argv)
    recipes = [] if args.no_default_recipe else [Recipe("kgan")]
    recipes += args.recipe
    if not args.no_reference:
        recipes.append(Recipe(REFERENCE, is_reference=True))
    names = [recipe.name for recipe in recipes]
    if len(set(names)) != len(names) or not recipes:
        parser.error(f"recipe names must be unique and at least one recipe is needed: {names}")
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, not {args.repeats}")
    if args.baseline not in names:
        parser.error(f"--baseline {args.baseline} is not one of the recipes {names}")
    if not args.kgan.exists() and any(not recipe.is_reference for recipe in recipes):
        parser.error(f"{args.kgan} not found: install kgan (README) or pass --kgan")
    args.recipes = recipes
    return args


def main(argv: list[str] | None = None) -> int:
    """Train, sample and score every recipe at every budget on every yardstick; write the report."""
    args = parse_arguments(argv)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    args.work_dir = (args.work_dir or Path("/work/benchdata/picture-quality") / stamp).resolve()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    results = args.results_dir / f"picture_quality-{stamp}"
    results.mkdir(parents=True, exist_ok=True)
    training_sets = {
        "gray": TrainingSet(args.gray_data.resolve(), 32, 1),
        "color": TrainingSet((args.icons / "train").resolve(), 64, 3),
    }
    total_minutes = sum(args.budgets) * len(args.yardstick) * len(args.recipes) * args.repeats
    print(f"{total_minutes:g} minutes of training in all; results in {results}, runs in {args.work_dir}", flush=True)
    yardsticks: dict[str, Yardstick] = {}
    for name in args.yardstick:
        print(f"preparing the {name} yardstick", flush=True)
        yardsticks[name] = YARDSTICK_BUILDERS[name](args.icons, args.cache_dir)
        print(f"  {yardsticks[name].description}; real-vs-real floor {yardsticks[name].floor:.3f}", flush=True)
    # The colour yardstick's third opinion, in features that never saw ImageNet.
    no_imagenet = {"color": identity_yardstick(args.icons, args.cache_dir)} if "color" in yardsticks else {}
    report = {
        "started": stamp,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "command": shlex.join(["python3", "bench/picture_quality.py", *(sys.argv[1:] if argv is None else argv)]),
        "baseline": args.baseline,
        "budgets": args.budgets,
        "repeats": args.repeats,
        "recipes": {recipe.name: recipe.describe(args.kgan_args) for recipe in args.recipes},
        "yardsticks": {
            name: {
                "description": stick.description,
                "floor": stick.floor,
                "patch_floor": stick.patch_floor,
                **(
                    {"identity_floor": no_imagenet[name].floor, "identity_description": no_imagenet[name].description}
                    if name in no_imagenet
                    else {}
                ),
                "training_data": str(training_sets[name].folder),
            }
            for name, stick in yardsticks.items()
        },
        "rows": [],
    }
    for minutes in args.budgets:
        for name, yardstick in yardsticks.items():
            for repeat, recipe in product(range(1, args.repeats + 1), args.recipes):
                run_name = f"{name}-{minutes:g}min-{recipe.name}" + (f"-{repeat}" if args.repeats > 1 else "")
                samples = args.work_dir / "samples" / run_name
                print(f"{run_name}: training {minutes:g} min", flush=True)
                if recipe.is_reference:
                    row = train_and_sample_reference(args, training_sets[name], minutes, run_name, samples)
                else:
                    row = train_and_sample_kgan(args, recipe, training_sets[name], minutes, run_name, samples)
                row.update({"yardstick": name, "minutes": minutes, "recipe": recipe.name, "repeat": repeat})
                if "error" not in row:
                    row["distance"] = yardstick.distance(samples, limit=args.n)
                    row["patch_distance"] = yardstick.patch_distance(samples, limit=args.n)
                    if name in no_imagenet:
                        row["identity_distance"] = no_imagenet[name].distance(samples, limit=args.n)
                    row["grid"] = str((results / "grids" / f"{run_name}.png").relative_to(results))
                    save_grid(samples, results / row["grid"])
                    identity = f", identity net {row['identity_distance']:.2f}" if name in no_imagenet else ""
                    print(
                        f"  {row['steps']} steps, distance {row['distance']:.3f}, "
                        f"patches {row['patch_distance']:.1f}{identity}",
                        flush=True,
                    )
                    if recipe.name == FIRST_WAVE and row.get("choices"):
                        print(f"  warning: {FIRST_WAVE} left {', '.join(row['choices'])} to auto", flush=True)
                else:
                    print(f"  {row['error']} (log: {args.work_dir / 'logs'})", flush=True)
                report["rows"].append(row)
                write_report(report, results)
    print(markdown_table(report))
    print(f"written: {results / 'results.md'}, results.json, distance_vs_minutes.png, grids/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
