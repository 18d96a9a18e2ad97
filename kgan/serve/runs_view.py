"""The runs folder as the pages see it: which runs exist, a run's figures, and safe file paths.

Reads JSON and PNG files only (through ``kgan.runs``), never TensorFlow, so the runs list
answers at once. A name or path from a request is trusted only after it is shown to lie inside
the runs folder, with symbolic links followed.
"""

from __future__ import annotations

import bisect
from pathlib import Path
from typing import Any

from kgan.errors import KganError, RunError
from kgan.runs import Run, sample_step
from kgan.tools.summary import list_runs, summarize

MAX_CHART_POINTS = 1500
CHART_SERIES = ("d_loss", "g_loss", "d_real", "d_fake", "images_per_second")


class NotFound(KganError):
    """A run or file the request names is not there, or not inside the runs folder."""


def find_run(runs_dir: Path, name: str) -> Run:
    """The run folder ``name`` directly inside ``runs_dir``; NotFound for anything else."""
    if not name or name.startswith(".") or "/" in name or "\\" in name or "\0" in name:
        raise NotFound(f"no run named {name!r}")
    path = runs_dir / name
    if not (path / "config.json").is_file() or not _is_inside(path, runs_dir):
        raise NotFound(f"no run named {name!r} in {runs_dir}")
    return Run(path)


def run_file(run: Run, relative: str) -> Path:
    """A file inside the run folder; NotFound for '..', absolute paths and links that lead out."""
    parts = relative.replace("\\", "/").split("/")
    if relative.startswith("/") or any(part in ("..", "") or "\0" in part for part in parts):
        raise NotFound(f"no file {relative!r} in run {run.name}")
    path = run.path.joinpath(*parts)
    if not path.is_file() or not _is_inside(path, run.path):
        raise NotFound(f"no file {relative!r} in run {run.name}")
    return path


def _is_inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve(strict=True).is_relative_to(folder.resolve(strict=True))
    except (OSError, RuntimeError):
        return False


def live(summary: dict[str, Any], run: Run) -> dict[str, Any]:
    """``kgan runs``' summary (figures of the newest checkpoint) moved on to the newest logged step,
    so a run that is training shows where it is, not where it last saved."""
    last = run.last_loss_record() or {}
    step, elapsed = last.get("step"), last.get("elapsed_seconds")
    if isinstance(step, int) and step > (summary["step"] or 0):
        summary["step"] = step
        if isinstance(elapsed, (int, float)):
            summary["elapsed_seconds"] = elapsed
    return summary


def runs_list(runs_dir: Path) -> list[dict[str, Any]]:
    """Every readable run with its newest grid, as ``kgan runs`` shows them (at the newest logged step)."""
    runs = []
    for summary in list_runs(runs_dir):
        run = Run(Path(summary["path"]))
        if not _is_inside(run.path, runs_dir):
            continue
        live(summary, run)
        grids = run.sample_grids()
        summary["grid"] = f"samples/{grids[-1].name}" if grids else None
        summary["grid_step"] = sample_step(grids[-1]) if grids else None
        summary.pop("path")
        runs.append(summary)
    return runs


def run_details(run: Run) -> dict[str, Any]:
    """A run whole: summary, options and choices, grids with elapsed time, chart series, metrics, skips."""
    config = run.config()
    records = [record for record in run.loss_records() if isinstance(record.get("step"), int)]
    elapsed = _elapsed_by_step(records)
    grids = []
    for path in run.sample_grids():
        step = sample_step(path)
        grids.append({"step": step, "elapsed": elapsed(step), "file": f"samples/{path.name}"})
    summary = live(summarize(run, config), run)
    summary.pop("path")
    return {
        "summary": summary,
        "options": config.options.to_json(),
        "choices": config.document.get("choices") or {},
        "data": config.document.get("data") or {},
        "model": config.document.get("model") or {},
        "has_checkpoint": run.latest_checkpoint() is not None,
        "grids": grids,
        "series": chart_series(records),
        "metrics": [
            {key: record.get(key) for key in ("step", "fid", "kid", "n", "features")}
            for record in run.metric_records()
            if isinstance(record.get("step"), int)
        ],
        "skipped": _skipped(run),
    }


def chart_series(records: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Step-aligned columns of logs/losses.jsonl's records, thinned to at most MAX_CHART_POINTS rows."""
    stride = max(1, -(-len(records) // MAX_CHART_POINTS))
    kept = records[::stride]
    if records and kept[-1] is not records[-1]:
        kept.append(records[-1])
    series: dict[str, list[Any]] = {"step": [record["step"] for record in kept]}
    for name in CHART_SERIES:
        series[name] = [_number(record.get(name)) for record in kept]
    extras = sorted({key for record in kept for key in (record.get("extras") or {})})
    for name in extras:
        series[name] = [_number((record.get("extras") or {}).get(name)) for record in kept]
    return series


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and value == value else None


def _elapsed_by_step(records: list[dict[str, Any]]) -> Any:
    """A function: step -> elapsed seconds at the last logged step at or before it (step 0 is 0)."""
    steps, seconds = [0], [0.0]
    for record in records:
        value = record.get("elapsed_seconds")
        if isinstance(value, (int, float)) and record["step"] > steps[-1]:
            steps.append(record["step"])
            seconds.append(float(value))

    def at(step: int) -> float | None:
        index = bisect.bisect_right(steps, step) - 1
        return seconds[index] if index >= 0 else None

    return at


def _skipped(run: Run) -> list[dict[str, Any]]:
    try:
        entries = run.skipped_files()
    except RunError:
        return []
    return [entry for entry in entries if isinstance(entry, dict)][:500]
