"""Read a PyTorch state dict saved in torch.save's legacy format (before PyTorch 1.6) without PyTorch.

The legacy format is five pickles in a row: a magic number, the protocol version, system
information, the state dict (whose tensors point at storages by key), and the list of storage
keys in the order their raw bytes follow, each as a little-endian count then the elements.
Only the classes a state dict of plain tensors holds are let in; anything else is refused, so
reading a file runs no code from it.
"""

from __future__ import annotations

import collections
import pickle
import struct
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _Storage:
    """One storage's element type; its elements once the bytes after the pickles are read."""

    def __init__(self, dtype: Any):
        self.dtype = np.dtype(dtype)
        self.elements: np.ndarray | None = None


class _TensorView:
    """A tensor as a view of a storage: first element, shape and strides (in elements)."""

    def __init__(self, storage: _Storage, offset: int, shape: Any, strides: Any, *unused: Any):
        self.storage, self.offset, self.shape, self.strides = storage, int(offset), tuple(shape), tuple(strides)

    def to_array(self) -> np.ndarray:
        elements = self.storage.elements
        if elements is None:
            raise ValueError("a tensor points at a storage the file does not hold")
        size = elements.itemsize
        view = np.lib.stride_tricks.as_strided(elements[self.offset :], self.shape, [s * size for s in self.strides])
        return view.copy()


class _StateDictUnpickler(pickle.Unpickler):
    def __init__(self, stream: BinaryIO, storages: dict[str, _Storage]):
        super().__init__(stream)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return _TensorView
        if module == "torch" and name in STORAGE_DTYPES:
            return STORAGE_DTYPES[name]
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a state dict of tensors")

    def persistent_load(self, persistent_id: Any) -> _Storage:
        kind, dtype, key = persistent_id[:3]
        if kind != "storage":
            raise pickle.UnpicklingError(f"unexpected persistent id {kind!r}")
        return self.storages.setdefault(key, _Storage(dtype))


def read_legacy_state_dict(path: Path) -> dict[str, np.ndarray]:
    """The file's tensors by name, as NumPy arrays; ValueError if it is not a legacy state dict."""
    storages: dict[str, _Storage] = {}

    def next_pickle() -> Any:
        return _StateDictUnpickler(stream, storages).load()

    with open(path, "rb") as stream:
        try:
            if next_pickle() != LEGACY_MAGIC:
                raise ValueError(f"{path} is not a legacy PyTorch weights file")
            next_pickle()  # protocol version
            next_pickle()  # system information
            state = next_pickle()
            for key in next_pickle():
                (count,) = struct.unpack("<q", stream.read(8))
                storage = storages[key]
                data = stream.read(count * storage.dtype.itemsize)
                storage.elements = np.frombuffer(data, dtype=storage.dtype, count=count)
        except (pickle.UnpicklingError, EOFError, KeyError, struct.error) as error:
            raise ValueError(f"{path} is not a readable PyTorch weights file: {error}") from None
    if not isinstance(state, dict):
        raise ValueError(f"{path} does not hold a state dict")
    return {name: value.to_array() for name, value in state.items() if isinstance(value, _TensorView)}
