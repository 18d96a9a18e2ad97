"""Runs at a glance: ``kgan runs`` (a table) and ``kgan info RUN`` (one run whole).

Reads only the run folders' JSON files, never TensorFlow, so both answer at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kgan.errors import RunError
from kgan.reporting import format_elapsed
from kgan.runs import Run, RunConfig

TABLE_COLUMNS = (
    ("name", "RUN"),
    ("data", "DATA"),
    ("shape", "SIZE"),
    ("kind", "ARCH/LOSS"),
    ("step", "STEPS"),
    ("elapsed", "ELAPSED"),
    ("last_losses", "LAST D/G"),
    ("best_fid", "BEST FID"),
)


def _variant(config: RunConfig) -> str:
    """'dcgan/bce', with the condition's tag and the extras: 'dcgan/hinge/conditional/ema/augment'."""
    options = config.options
    parts = [config.model.arch, options.loss, config.model.condition.summary_tag]
    if options.ema:
        parts.append("ema")
    if options.augment:
        parts.append("augment")
    return "/".join(part for part in parts if part)


def summarize(run: Run, config: RunConfig | None = None) -> dict[str, Any]:
    """One run's vital figures, as JSON-ready values (None where unknown)."""
    config = config or run.config()
    model = config.model
    checkpoint = run.latest_checkpoint()
    elapsed = None
    if checkpoint is not None:
        try:
            elapsed = checkpoint.state().elapsed_seconds
        except RunError:
            elapsed = None
    last = run.last_loss_record() or {}
    fids = [record["fid"] for record in run.metric_records() if isinstance(record.get("fid"), (int, float))]
    return {
        "name": run.name,
        "path": str(run.path),
        "data": config.data_path.name if config.data_path else None,
        "shape": f"{model.resolution}x{model.resolution}x{model.channels}",
        "kind": _variant(config),
        "step": checkpoint.step if checkpoint is not None else 0,
        "elapsed_seconds": elapsed,
        "d_loss": last.get("d_loss"),
        "g_loss": last.get("g_loss"),
        "best_fid": min(fids) if fids else None,
        "created_at": config.created_at,
    }


def list_runs(runs_dir: Path) -> list[dict[str, Any]]:
    """Summaries of every run folder under ``runs_dir``, oldest first; damaged ones are skipped."""
    summaries = []
    if runs_dir.is_dir():
        for path in sorted(runs_dir.iterdir()):
            if (path / "config.json").is_file():
                try:
                    summaries.append(summarize(Run(path)))
                except (RunError, KeyError, TypeError, ValueError):
                    continue
    return sorted(summaries, key=lambda item: (item["created_at"] or "", item["name"]))


def _cell(summary: dict[str, Any], key: str) -> str:
    if key == "elapsed":
        seconds = summary["elapsed_seconds"]
        return format_elapsed(seconds) if seconds is not None else "-"
    if key == "last_losses":
        d_loss, g_loss = summary["d_loss"], summary["g_loss"]
        return f"{d_loss:.3f}/{g_loss:.3f}" if d_loss is not None and g_loss is not None else "-"
    if key == "best_fid":
        return f"{summary['best_fid']:.2f}" if summary["best_fid"] is not None else "-"
    if key == "step":
        return f"{summary['step']:,}"
    value = summary[key]
    return "-" if value is None else str(value)


def format_table(summaries: list[dict[str, Any]]) -> str:
    """The runs as an aligned text table."""
    rows = [[title for _, title in TABLE_COLUMNS]]
    rows += [[_cell(summary, key) for key, _ in TABLE_COLUMNS] for summary in summaries]
    widths = [max(len(row[i]) for row in rows) for i in range(len(TABLE_COLUMNS))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def describe(run: Run) -> dict[str, Any]:
    """Everything about one run: config, checkpoints, samples, metrics, outputs."""
    config = run.config()
    checkpoints = [
        {"step": checkpoint.step, "path": str(checkpoint.path), "megabytes": checkpoint.megabytes()}
        for checkpoint in run.checkpoints()
    ]
    generated, videos = run.outputs()
    return {
        "summary": summarize(run, config),
        "config": config.document,
        "checkpoints": checkpoints,
        "sample_grids": len(run.sample_grids()),
        "metrics": run.metric_records(),
        "generated": generated,
        "videos": videos,
        "skipped_files": len(run.skipped_files()),
    }


def format_description(details: dict[str, Any]) -> str:
    """``describe``'s result as readable text."""
    summary, config = details["summary"], details["config"]
    options, model, data = config.get("options", {}), config.get("model", {}), config.get("data", {})
    lines = [
        f"run        {summary['name']}  ({summary['path']})",
        f"created    {config.get('created_at', '-')}  with kgan {config.get('kgan_version', '?')}, "
        f"Keras {config.get('keras_version', '?')}, TensorFlow {config.get('tensorflow_version', '?')}",
        f"data       {data.get('path', '-')}: {data.get('images', '?')} images, fingerprint {data.get('fingerprint')}",
        f"model      {summary['kind']} at {summary['shape']}, latent {model.get('latent_dim')}, "
        f"width {_widths(model)}, {model.get('precision', 'float32')}",
        f"training   step {summary['step']:,}, {_cell(summary, 'elapsed')} elapsed, batch {options.get('batch_size')}, "
        f"seed {config.get('seed')}, last D/G {_cell(summary, 'last_losses')}",
    ]
    if data.get("classes"):
        lines.append("classes    " + ", ".join(f"{name} ({count})" for name, count in data["classes"].items()))
    for option, reason in (config.get("choices") or {}).items():
        lines.append(f"chosen     {option}: {reason}")
    if config.get("resumed"):
        lines.append("resumed    at steps " + ", ".join(str(item.get("at_step")) for item in config["resumed"]))
    lines.append(f"samples    {details['sample_grids']} grids in {Path(summary['path']) / 'samples'}")
    for checkpoint in details["checkpoints"]:
        lines.append(f"checkpoint step {checkpoint['step']:,}: {checkpoint['path']} ({checkpoint['megabytes']:.1f} MB)")
    for record in details["metrics"]:
        lines.append(
            f"metrics    step {record.get('step')}: FID {record.get('fid', float('nan')):.2f}, "
            f"KID {record.get('kid', float('nan')):.4f} (n {record.get('n')}, {record.get('features')})"
        )
    for path in details["generated"] + details["videos"]:
        lines.append(f"output     {path}")
    if details["skipped_files"]:
        lines.append(f"skipped    {details['skipped_files']} files (see skipped.json)")
    lines.append(
        "options    " + ", ".join(f"{key}={value}" for key, value in sorted(options.items()) if value is not None)
    )
    return "\n".join(lines)


def _widths(model: dict) -> str:
    """'16' when G mirrors D (and in runs made before --g-width), 'D 16, G 32' when not."""
    width, g_width = model.get("width"), model.get("g_width")
    return str(width) if g_width in (None, width) else f"D {width}, G {g_width}"
