"""Loading Keras and TensorFlow quietly, and choosing devices and precision.

TensorFlow writes a page of C++ start-up notices to stderr on import; a user
of a command-line tool should not have to read them. They are hidden by
pointing the process's stderr at /dev/null while the import runs (the notices
are written before TensorFlow reads TF_CPP_MIN_LOG_LEVEL). Errors during the
import still surface as the Python exception.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from types import ModuleType

from kgan.errors import OptionError
from kgan.gan.catalog import NOT_DETERMINISTIC_IN_XLA

PRECISIONS = ("auto", "float32", "bfloat16", "float16")
# How a training step is compiled: one XLA cluster for the whole step, or a TensorFlow graph.
COMPILERS = ("auto", "xla", "graph")
# --steps-per-execution auto: this many steps in one XLA call for images up to this size, in runs of at
# least this many steps (see choose_steps_per_execution).
FUSED_STEPS, FUSED_STEPS_UP_TO_PIXELS, FUSED_STEPS_FROM_RUN_STEPS = 4, 32, 2000
# The Keras dtype policy for each precision: mixed policies keep weights in float32.
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
# CPU flags for fast bfloat16 matrix units (Intel AMX, AVX-512 BF16).
BFLOAT16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def keras_module() -> ModuleType:
    """Import and return keras on the TensorFlow backend, without start-up noise."""
    if "keras" in sys.modules and "tensorflow" in sys.modules:
        return sys.modules["keras"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    with _native_stderr_silenced():
        import keras
        import tensorflow  # noqa: F401
    return keras


def tensorflow_module() -> ModuleType:
    """Import and return tensorflow, without start-up noise."""
    keras_module()
    return sys.modules["tensorflow"]


def versions() -> dict[str, str]:
    """The Keras and TensorFlow versions, for a run's config.json."""
    return {"keras_version": keras_module().__version__, "tensorflow_version": tensorflow_module().__version__}


def cpu_flags() -> set[str]:
    """The CPU feature flags Linux reports (empty elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as stream:
            for line in stream:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def gpu_compute_capabilities() -> list[tuple[int, int]]:
    """(major, minor) compute capability of each visible GPU."""
    tf = tensorflow_module()
    capabilities = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        capabilities.append(tuple(details.get("compute_capability", (0, 0))))
    return capabilities


def choose_precision(requested: str) -> str:
    """Resolve 'auto' to the fastest precision this machine runs well.

    bfloat16 on GPUs from Ampere on (compute capability 8) and on CPUs with
    AMX or AVX-512 BF16; float16 on older tensor-core GPUs; float32 elsewhere.
    """
    if requested != "auto":
        return requested
    gpus = gpu_compute_capabilities()
    if gpus:
        oldest = min(gpus)
        return "bfloat16" if oldest >= (8, 0) else "float16" if oldest >= (7, 0) else "float32"
    return "bfloat16" if cpu_flags() & set(BFLOAT16_CPU_FLAGS) else "float32"


def choose_compiler(
    requested: str,
    precision: str,
    replicas: int,
    on_gpu: bool,
    arch: str = "dcgan",
    deterministic: bool = False,
    d_features: str = "none",
) -> str:
    """Resolve 'auto' to XLA where it was measured faster: a float32 step on one CPU, with no projected D.

    There XLA fuses the many small operations around each convolution (batch
    norm, activations, optimizer updates, the moving average), and a step of
    kgan's narrow default networks takes 1.25 times (28 px) to 1.4 times (64 px)
    less time. In bfloat16 the CPU's own bfloat16 kernels do the work, and XLA
    was slower: the 64 px default on an AVX-512 BF16 EPYC ran 5.8 steps a second
    compiled by XLA against 7.9 and 8.9 as a graph (A B A B, a minute each). A
    step with a projected D (``d_features`` "lite1", the 64 px colour default)
    stays a graph too: in float32 it trained 29 images a second compiled by XLA
    against 200 as a graph (AMX Xeon, a minute each), and 23 steps a minute
    against 244 and 239 (AVX-512 BF16 EPYC, A B A B). XLA was not measured on a
    GPU; a step split across replicas stays a graph, and so does a repeatable
    (``deterministic``) step of an architecture that XLA cannot repeat.
    """
    repeatable = not (deterministic and arch in NOT_DETERMINISTIC_IN_XLA)
    if requested == "xla" and replicas > 1:
        raise OptionError("--compile xla runs a step on one device; use --compile graph with --strategy")
    if requested == "xla" and not repeatable:
        raise OptionError(f"--compile xla cannot repeat --arch {arch} bit for bit (--seed); use --compile graph")
    if requested != "auto":
        return requested
    xla_pays = precision == "float32" and replicas == 1 and not on_gpu and d_features != "lite1"
    return "xla" if xla_pays and repeatable else "graph"


def choose_steps_per_execution(
    requested: int | None, compiler: str, replicas: int, resolution: int, run_steps: float
) -> int:
    """Resolve 'auto' (None): how many training steps one compiled call runs.

    An XLA call costs a few milliseconds besides its arithmetic; a 28 px step of
    the default networks takes about 30 ms, and four of them unrolled into one
    program took 21 ms each instead of 29 (A B A B, 2 cores). A 64 px step, four
    times the arithmetic, gained nothing measurable, and each extra step
    unrolled adds seconds of compiling, so auto fuses steps only for small
    images, and only in runs long enough (``run_steps``; infinite for a budget
    in minutes) to repay the compiling.
    """
    if requested is not None:
        if requested > 1 and replicas > 1:
            raise OptionError("--steps-per-execution above 1 runs on one device; use 1 with --strategy")
        return requested
    small_and_long = resolution <= FUSED_STEPS_UP_TO_PIXELS and run_steps >= FUSED_STEPS_FROM_RUN_STEPS
    return FUSED_STEPS if compiler == "xla" and replicas == 1 and small_and_long else 1


@contextlib.contextmanager
def precision_scope(precision: str) -> Iterator[None]:
    """Build layers in ``precision`` inside the block, then restore the previous policy."""
    keras = keras_module()
    previous = keras.mixed_precision.dtype_policy()
    use_precision(precision)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def use_precision(precision: str) -> None:
    """Make layers built from now on compute in ``precision`` (weights stay float32)."""
    keras_module().mixed_precision.set_global_policy(POLICIES[precision])


def describe_devices() -> str:
    """Where the computation runs, in words: 'CPU (2 cores, AMX)' or '2 GPUs (NVIDIA H100)'."""
    tf = tensorflow_module()
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
        return f"{len(gpus)} GPU{'s' if len(gpus) > 1 else ''} ({name})"
    flags = cpu_flags()
    extras = [label for flag, label in (("amx_bf16", "AMX"), ("avx512f", "AVX-512")) if flag in flags]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"CPU ({cores} cores{', ' + ', '.join(extras) if extras else ''})"


def op_determinism_enabled() -> bool:
    """True once ``make_deterministic`` ran in this process (TensorFlow cannot switch it off again)."""
    from tensorflow.python.framework import config  # the public API has no reader for it

    tensorflow_module()
    return bool(config.is_op_determinism_enabled())


def make_deterministic() -> None:
    """Make training repeatable bit for bit on one machine.

    TensorFlow's op determinism picks deterministic kernels and seeds; independent
    ops may still run side by side. Running them one at a time as well (inter-op
    threads 1) changed no bit of 1,500 gray steps or 150 colour steps, on an idle
    machine or one with two busy processes beside it, and cost 17% of the steps.
    """
    tensorflow_module().config.experimental.enable_op_determinism()
