"""Moving weights between the file and a device, one bounded piece at a time.

Loading onto a GPU never builds the model in host memory first: each tensor is allocated
on the device and filled through a small pinned staging buffer as its bytes are decoded.
Dumping a GPU model copies each tensor to the host in pieces of the same bounded size.
"""

from __future__ import annotations

import io
from typing import Any

import torch

from flm_core import FLMError, FormatError, OptionError

STAGING = 16 * 1024 * 1024  # bytes per staging buffer: a multiple of the core's 4 MiB block


def resolve(device: Any) -> torch.device:
    """``None`` means the CPU: a file dumped on a GPU never asks for one on load."""
    if device is None:
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise OptionError(
            f"device={device!r} is not a torch device: pass 'cpu', 'cuda', 'cuda:0', 'mps' "
            "or a torch.device") from exc
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise FLMError(
                f"device={device!r} was asked for but torch {torch.__version__} sees no CUDA "
                "GPU here: load with device='cpu' (the default)")
        if resolved.index is None:
            resolved = torch.device("cuda", torch.cuda.current_device())
    elif resolved.type == "mps" and not torch.backends.mps.is_available():
        raise FLMError(f"device={device!r} was asked for but MPS is not available here: "
                       "load with device='cpu' (the default)")
    return resolved


def byte_view(tensor: torch.Tensor) -> torch.Tensor:
    """A flat uint8 view of a contiguous tensor's storage, on its own device."""
    return tensor.reshape(-1).view(torch.uint8)


class Reader:
    """Fills device tensors from a stream: straight into CPU memory, through two
    alternating staging buffers elsewhere (pinned for CUDA, so copies run asynchronously
    while the next piece decodes)."""

    def __init__(self, device: torch.device, staging: int = STAGING) -> None:
        self.device = device
        self.direct = device.type == "cpu"  # decode straight into the tensor's memory
        self._size = staging
        self._buffers: list[torch.Tensor] = []
        self._events: list[Any] = []
        self._turn = 0

    def read(self, stream: io.BufferedIOBase, entry: dict[str, Any],
             dtype: torch.dtype) -> torch.Tensor:
        tensor = torch.empty(entry["shape"], dtype=dtype, device=self.device)
        if tensor.numel() == 0:
            return tensor
        target = byte_view(tensor)
        if self.direct:
            _fill(stream, target.numpy(), entry["name"])
        else:
            for start in range(0, target.numel(), self._size):
                piece = target[start : start + self._size]
                staging = self._next_buffer(piece.numel())
                _fill(stream, staging.numpy(), entry["name"])
                piece.copy_(staging, non_blocking=self._pinned)
                if self._events:
                    self._events[self._turn].record()
        return tensor

    @property
    def _pinned(self) -> bool:
        return bool(self.device.type == "cuda")

    def _next_buffer(self, size: int) -> torch.Tensor:
        if not self._buffers:
            self._buffers = [torch.empty(self._size, dtype=torch.uint8, pin_memory=self._pinned)
                             for _ in range(2)]
            if self._pinned:
                event: Any = torch.cuda.Event  # untyped in torch
                self._events = [event() for _ in range(2)]
        self._turn ^= 1
        if self._events:  # the copy that last read this buffer must be done before reuse
            self._events[self._turn].synchronize()
        return self._buffers[self._turn][:size]

    def finish(self) -> None:
        """Wait for the last copies; the staging buffers are released."""
        for event in self._events:
            event.synchronize()
        self._buffers, self._events = [], []


def _fill(stream: io.BufferedIOBase, array: Any, name: str) -> None:
    view = memoryview(array).cast("B")
    filled = 0
    while filled < len(view):
        got = stream.readinto(view[filled:])
        if not got:
            raise FormatError(f"the torch payload ends inside tensor {name!r}")
        filled += got


def write_from_device(sink: io.RawIOBase, flat: torch.Tensor, staging: int = STAGING) -> None:
    """Write a flat tensor that lives off the CPU through one host buffer of at most
    ``staging`` bytes; the writes keep ``flat``'s itemsize, so the core can shuffle them."""
    step = max(1, staging // flat.element_size())
    pinned = flat.device.type == "cuda"
    buffer = torch.empty(min(step, flat.numel()), dtype=flat.dtype, pin_memory=pinned)
    for start in range(0, flat.numel(), step):
        piece = flat[start : start + step]
        host = buffer[: piece.numel()]
        host.copy_(piece)  # synchronous: the buffer is reused as soon as write returns
        sink.write(host.numpy().data)
