"""Saving and loading checkpoints in Keras' own format, atomically.

A checkpoint is a folder ``checkpoints/step-NNNNNN/`` holding the generator
and the discriminator as ``.keras`` files (architecture, weights, and each
one's optimizer state) and ``state.json`` (step, counters, file digests). It is
written under a temporary name and renamed into place, so a kill at any moment
leaves the previous checkpoint whole. Models load with Keras' safe mode on:
nothing in a run folder can execute code.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

from kgan.backend import keras_module
from kgan.errors import RunError
from kgan.model_files import load_keras_file
from kgan.runs import (
    AVERAGE_FILE,
    DISCRIMINATOR_FILE,
    GENERATOR_FILE,
    STATE_FILE,
    Run,
    checkpoint_name,
    fsync_folder,
    read_json,
    write_json_atomic,
)

keras = keras_module()


def save_checkpoint(
    run: Run,
    step: int,
    generator: keras.Model,
    discriminator: keras.Model,
    state: dict[str, Any],
    keep: int,
    average: keras.Model | None = None,
) -> Path:
    """Write the checkpoint for ``step`` (with G's moving average, if any); keep the newest ``keep``."""
    final = run.checkpoints_dir / checkpoint_name(step)
    if final.exists():
        return final
    temporary = run.checkpoints_dir / f".tmp-{checkpoint_name(step)}-{os.getpid()}"
    try:
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir(parents=True)
        digests = {}
        models = [(generator, GENERATOR_FILE), (discriminator, DISCRIMINATOR_FILE)]
        if average is not None:
            models.append((average, AVERAGE_FILE))
        for model, file_name in models:
            model.save(temporary / file_name)
            digests[file_name] = _sync_and_digest(temporary / file_name)
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


def _sync_and_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
        os.fsync(stream.fileno())
    return digest.hexdigest()


def _prune(run: Run, keep: int) -> None:
    for old in run.checkpoints()[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def remove_unfinished(run: Run) -> None:
    """Delete temporary checkpoint folders left by a process that was killed while saving."""
    if run.checkpoints_dir.is_dir():
        for leftover in run.checkpoints_dir.glob(".tmp-step-*"):
            shutil.rmtree(leftover, ignore_errors=True)


def read_state(checkpoint: Path) -> dict[str, Any]:
    """The checkpoint's state.json."""
    return read_json(checkpoint / STATE_FILE)


def _verified_model_file(checkpoint: Path, file_name: str) -> Path:
    path = checkpoint / file_name
    if not path.is_file():
        raise RunError(f"{path} is missing")
    expected = read_state(checkpoint).get("sha256", {}).get(file_name)
    if expected is not None:
        digest = hashlib.sha256()
        with open(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != expected:
            raise RunError(f"{path} is damaged or was changed (its checksum does not match state.json)")
    return path


def _load_model(path: Path, compile: bool) -> keras.Model:
    return load_keras_file(path, RunError, flag="", compile=compile)


def load_discriminator(checkpoint: Path) -> keras.Model:
    """A checkpoint's discriminator, checked against its digest, without optimizer state."""
    return _load_model(_verified_model_file(checkpoint, DISCRIMINATOR_FILE), compile=False)


def load_generator(checkpoint_or_file: Path, average: bool = True) -> keras.Model:
    """The generator of a checkpoint folder (its moving average when it has one and
    ``average`` is true), or of a ``.keras`` file, for inference."""
    path = Path(checkpoint_or_file)
    if path.is_dir():
        use_average = average and (path / AVERAGE_FILE).is_file()
        path = _verified_model_file(path, AVERAGE_FILE if use_average else GENERATOR_FILE)
    model = _load_model(path, compile=False)
    if len(model.input_shape) != 2 or len(model.output_shape) != 4:
        raise RunError(f"{path} is not a generator (input {model.input_shape}, output {model.output_shape})")
    return model


def load_for_training(checkpoint: Path) -> tuple[keras.Model, keras.Model, keras.Model | None, dict[str, Any]]:
    """The generator and discriminator with their optimizers' state, G's average (or None), and state.json."""
    state = read_state(checkpoint)
    generator = _load_model(_verified_model_file(checkpoint, GENERATOR_FILE), compile=True)
    discriminator = _load_model(_verified_model_file(checkpoint, DISCRIMINATOR_FILE), compile=True)
    for model, path in ((generator, GENERATOR_FILE), (discriminator, DISCRIMINATOR_FILE)):
        if getattr(model, "optimizer", None) is None:
            raise RunError(f"{checkpoint / path} holds no optimizer state")
    average = None
    if (checkpoint / AVERAGE_FILE).exists():
        average = _load_model(_verified_model_file(checkpoint, AVERAGE_FILE), compile=False)
    return generator, discriminator, average, state
