"""Scaling out with tf.distribute: one device, all local devices, or several machines.

* ``none``: the default strategy, one device.
* ``mirrored``: ``MirroredStrategy`` over every local GPU (or the CPU when
  there is none). Setting ``KGAN_LOGICAL_CPUS=N`` splits the CPU into N logical
  devices first, which is how the tests run two replicas on one machine.
* ``multiworker``: ``MultiWorkerMirroredStrategy``, configured by the
  ``TF_CONFIG`` environment variable as clusters and Kubernetes launch
  TensorFlow jobs. Every worker runs the same command; the chief writes the
  run folder and the others write into a temporary folder that is removed.

The global batch is split evenly across replicas; the trainer scales each
replica's loss by the number of replicas so the summed gradients equal the
global batch's, and the generator's batch norm is synchronized across replicas.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from kgan.backend import tensorflow_module
from kgan.errors import OptionError

STRATEGIES = ("none", "mirrored", "multiworker")
LOGICAL_CPUS_VARIABLE = "KGAN_LOGICAL_CPUS"


@dataclass
class Distribution:
    """A tf.distribute strategy and this process's place in it."""

    name: str
    strategy: Any
    is_chief: bool

    @property
    def replicas(self) -> int:
        return int(self.strategy.num_replicas_in_sync)

    @property
    def on_gpu(self) -> bool:
        """True when the replicas run on GPUs (TensorFlow places work on a GPU whenever it sees one)."""
        return bool(tensorflow_module().config.list_logical_devices("GPU"))

    def describe(self) -> str:
        if self.name == "none":
            return "no strategy (1 replica)"
        role = "" if self.name == "mirrored" else (", chief" if self.is_chief else ", worker")
        return f"{self.name} strategy ({self.replicas} replicas{role})"


def _split_cpu(tf: Any) -> list[str] | None:
    count = os.environ.get(LOGICAL_CPUS_VARIABLE)
    if not count:
        return None
    if not count.isdigit() or int(count) < 1:
        raise OptionError(f"{LOGICAL_CPUS_VARIABLE} must be a positive whole number, not {count!r}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * int(count))
    except RuntimeError:
        pass  # already initialised in this process (as in-process tests): keep what is there
    return [device.name for device in tf.config.list_logical_devices("CPU")]


def _is_chief(cluster: dict[str, Any], task: dict[str, Any]) -> bool:
    if task.get("type") == "chief":
        return True
    return "chief" not in cluster and task.get("type") == "worker" and int(task.get("index", 0)) == 0


def multiworker_seed() -> int:
    """A seed every worker derives alike from TF_CONFIG's cluster, for runs started without --seed."""
    import hashlib

    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    digest = hashlib.sha256(json.dumps(cluster, sort_keys=True).encode()).digest()
    return int.from_bytes(digest[:4], "big") % 2**31


def make_distribution(name: str) -> Distribution:
    """Create the strategy named by ``--strategy``; call before building any model."""
    tf = tensorflow_module()
    if name == "none":
        return Distribution("none", tf.distribute.get_strategy(), is_chief=True)
    if name == "mirrored":
        devices = _split_cpu(tf)
        gpus = tf.config.list_logical_devices("GPU")
        strategy = tf.distribute.MirroredStrategy(devices=None if gpus or not devices else devices)
        return Distribution("mirrored", strategy, is_chief=True)
    if name == "multiworker":
        raw = os.environ.get("TF_CONFIG")
        if not raw:
            raise OptionError("--strategy multiworker needs the TF_CONFIG environment variable (see the README)")
        try:
            config = json.loads(raw)
            cluster, task = config["cluster"], config["task"]
        except (ValueError, KeyError, TypeError):
            raise OptionError("TF_CONFIG is not valid JSON with 'cluster' and 'task'") from None
        _split_cpu(tf)
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        return Distribution("multiworker", strategy, is_chief=_is_chief(cluster, task))
    raise OptionError(f"--strategy must be one of {', '.join(STRATEGIES)}, not {name!r}")


def check_batch_split(batch_size: int, replicas: int) -> None:
    """Raise OptionError unless the global batch splits evenly across the replicas."""
    if batch_size % replicas:
        raise OptionError(f"--batch-size {batch_size} does not split evenly across {replicas} replicas")
