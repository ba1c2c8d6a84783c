"""What the torch lip-sync backends share at run time: device, precision, batching, reuse.

torch is imported inside the functions, so importing this module stays light.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from engine.errors import BackendUnavailable, TransientError

__all__ = ["PRECISIONS", "check_settings", "torch_device", "amp_dtype", "Recent", "BatchFitter"]
log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
T = TypeVar("T")


def check_settings(precision: str, batch: int) -> None:
    """Refuse a precision or a batch size the torch backends do not know (ValueError)."""
    if precision not in PRECISIONS:
        raise ValueError(
            f"MOUTHPIECE_LIPSYNC_PRECISION={precision!r} is not one of {', '.join(PRECISIONS)}"
        )
    if batch < 0:
        raise ValueError(f"MOUTHPIECE_LIPSYNC_BATCH={batch} must be 0 (auto) or more")


def torch_device(want: str, backend: str) -> Any:
    """``auto`` (CUDA when torch sees a GPU, else CPU), ``cpu``, ``cuda`` or ``cuda:N``."""
    import torch

    if want == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(want)
    except RuntimeError as e:
        raise ValueError(f"MOUTHPIECE_DEVICE={want!r} is not a device: {e}") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BackendUnavailable(f"{backend}: device {want!r} asked for, but CUDA is not available")
    return dev


def amp_dtype(precision: str, device: Any) -> Any:
    """The reduced-precision dtype for ``precision`` on ``device``, or None (fp32).

    ``auto`` is fp16 on CUDA (what the reference implementations run there) and fp32 on CPU.
    """
    import torch

    if precision == "auto":
        return torch.float16 if device.type == "cuda" else None
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


class Recent:
    """A small LRU of generated crops keyed by their conditioning (memory stays flat)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.items = limit, OrderedDict[bytes, np.ndarray]()

    def __contains__(self, key: bytes) -> bool:
        return key in self.items

    def __getitem__(self, key: bytes) -> np.ndarray:
        self.items.move_to_end(key)
        return self.items[key]

    def put(self, key: bytes, value: np.ndarray) -> None:
        self.items[key] = value
        while len(self.items) > self.limit:
            self.items.popitem(last=False)


class BatchFitter:
    """Runs a batch; while the device runs out of memory, halves it (for the rest of the
    process: ``size`` shrinks) and runs the halves. A single item that does not fit is a
    TransientError (retry later)."""

    def __init__(self, size: int, backend: str, device: Any) -> None:
        self.size, self.backend, self.device = size, backend, device

    def __call__(self, run: Callable[[Any], list[T]], items: Any) -> list[T]:
        """``run(items)``; ``items`` is anything with ``len`` and slicing (arrays, lists)."""
        import torch

        try:
            return run(items)
        except torch.OutOfMemoryError as e:
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            if len(items) == 1:
                raise TransientError(f"{self.backend}: out of memory at batch 1") from e
            self.size = max(1, len(items) // 2)
            log.warning("%s out of memory at batch %d; now %d", self.backend, len(items), self.size)
            half = len(items) // 2
            return self(run, items[:half]) + self(run, items[half:])
