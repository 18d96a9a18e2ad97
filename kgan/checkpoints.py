"""Saving and loading checkpoints in Keras' own format, atomically.

A checkpoint is a folder ``checkpoints/step-NNNNNN/`` holding the generator
and the discriminator as ``.keras`` files (architecture, weights, and each
one's optimizer state), G's moving average and the lookahead's slow copies
when the run keeps them, and ``state.json`` (step, counters, file digests). It is
written under a temporary name and renamed into place, so a kill at any moment
leaves the previous checkpoint whole. Models load with Keras' safe mode on:
nothing in a run folder can execute code.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from kgan.backend import keras_module
from kgan.errors import RunError
from kgan.files import file_sha256, fsync_folder, write_json_atomic
from kgan.model_files import load_keras_file
from kgan.runs import (
    DISCRIMINATOR_FILE,
    EMA_FILE,
    GENERATOR_FILE,
    LOOKAHEAD_FILE,
    STATE_FILE,
    Checkpoint,
    CheckpointState,
    Run,
    checkpoint_name,
)

keras = keras_module()

# For tests that kill a process in the middle of a save: "STEP:SECONDS" makes the
# save of that step's checkpoint write PAUSED into its temporary folder after the
# generator, then sleep.
PAUSE_VARIABLE = "KGAN_TEST_PAUSE_IN_SAVE"


def save_checkpoint(
    run: Run,
    step: int,
    generator: keras.Model,
    discriminator: keras.Model,
    state: dict[str, Any],
    keep: int,
    ema: keras.Model | None = None,
    lookahead: dict[str, np.ndarray] | None = None,
) -> Path:
    """Write the checkpoint for ``step`` (with G's moving average and the lookahead's slow
    copies, if any); keep the newest ``keep``."""
    final = run.checkpoints_dir / checkpoint_name(step)
    if final.exists():
        return final
    temporary = run.checkpoints_dir / f".tmp-{checkpoint_name(step)}-{os.getpid()}"
    try:
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir(parents=True)
        digests = {}
        models = [(generator, GENERATOR_FILE), (discriminator, DISCRIMINATOR_FILE)]
        if ema is not None:
            models.append((ema, EMA_FILE))
        for model, file_name in models:
            model.save(temporary / file_name)
            digests[file_name] = file_sha256(temporary / file_name, sync=True)
            _pause_for_tests(step, temporary)
        if lookahead is not None:
            with open(temporary / LOOKAHEAD_FILE, "wb") as file:
                np.savez(file, **lookahead)
            digests[LOOKAHEAD_FILE] = file_sha256(temporary / LOOKAHEAD_FILE, sync=True)
        write_json_atomic(temporary / STATE_FILE, {**state, "step": step, "sha256": digests})
        os.rename(temporary, final)
        fsync_folder(run.checkpoints_dir)
    except OSError as error:
        shutil.rmtree(temporary, ignore_errors=True)
        raise RunError(f"cannot write checkpoint {final}: {error.strerror or error}") from None
    except RunError:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    _prune(run, keep)
    return final


def _pause_for_tests(step: int, temporary: Path) -> None:
    planned = os.environ.get(PAUSE_VARIABLE, "")
    pause_step, _, seconds = planned.partition(":")
    if pause_step == str(step) and not (temporary / "PAUSED").exists():
        (temporary / "PAUSED").touch()
        time.sleep(float(seconds or 60))


def _prune(run: Run, keep: int) -> None:
    for old in run.checkpoints()[:-keep]:
        shutil.rmtree(old.path, ignore_errors=True)


def remove_unfinished(run: Run) -> None:
    """Delete temporary checkpoint folders left by a process that was killed while saving."""
    if run.checkpoints_dir.is_dir():
        for leftover in run.checkpoints_dir.glob(".tmp-step-*"):
            shutil.rmtree(leftover, ignore_errors=True)


def _verified_file(checkpoint: Checkpoint, file_name: str) -> Path:
    path = checkpoint.file(file_name)
    if not path.is_file():
        raise RunError(f"{path} is missing")
    expected = checkpoint.state().sha256.get(file_name)
    if expected is not None and file_sha256(path) != expected:
        raise RunError(f"{path} is damaged or was changed (its checksum does not match state.json)")
    return path


def _load_model(path: Path, compile: bool) -> keras.Model:
    return load_keras_file(path, RunError, flag="", compile=compile)


def load_discriminator(checkpoint: Path) -> keras.Model:
    """A checkpoint's discriminator, checked against its digest, without optimizer state."""
    return _load_model(_verified_file(Checkpoint(Path(checkpoint)), DISCRIMINATOR_FILE), compile=False)


def load_generator(checkpoint_or_file: Path, ema: bool = True) -> keras.Model:
    """The generator of a checkpoint folder (its moving average when it has one and
    ``ema`` is true), or of a ``.keras`` file, for inference."""
    path = Path(checkpoint_or_file)
    if path.is_dir():
        checkpoint = Checkpoint(path)
        path = _verified_file(checkpoint, EMA_FILE if ema and checkpoint.has_ema else GENERATOR_FILE)
    model = _load_model(path, compile=False)
    if len(model.input_shape) != 2 or len(model.output_shape) != 4:
        raise RunError(f"{path} is not a generator (input {model.input_shape}, output {model.output_shape})")
    return model


def load_lookahead(checkpoint: Checkpoint) -> dict[str, np.ndarray] | None:
    """The lookahead's slow copies saved in a checkpoint, checked against its digest (None when it has none)."""
    if not checkpoint.has_lookahead:
        return None
    path = _verified_file(checkpoint, LOOKAHEAD_FILE)
    try:
        with np.load(path, allow_pickle=False) as arrays:
            return {name: arrays[name] for name in arrays.files}
    except (OSError, ValueError) as error:
        raise RunError(f"{path} is damaged: {error}") from None


def load_for_training(
    checkpoint: Checkpoint | Path,
) -> tuple[keras.Model, keras.Model, keras.Model | None, CheckpointState]:
    """The generator and discriminator with their optimizers' state, G's moving average (or None), and state.json.

    The lookahead's slow copies, if any, come from ``load_lookahead``."""
    checkpoint = checkpoint if isinstance(checkpoint, Checkpoint) else Checkpoint(Path(checkpoint))
    state = checkpoint.state()
    generator = _load_model(_verified_file(checkpoint, GENERATOR_FILE), compile=True)
    discriminator = _load_model(_verified_file(checkpoint, DISCRIMINATOR_FILE), compile=True)
    for model, path in ((generator, GENERATOR_FILE), (discriminator, DISCRIMINATOR_FILE)):
        if getattr(model, "optimizer", None) is None:
            raise RunError(f"{checkpoint.file(path)} holds no optimizer state")
    ema = None
    if checkpoint.has_ema:
        ema = _load_model(_verified_file(checkpoint, EMA_FILE), compile=False)
    return generator, discriminator, ema, state
