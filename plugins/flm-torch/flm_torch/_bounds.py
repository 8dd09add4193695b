"""What a payload may ask of the machine, checked before anything is allocated, and the one
place every other failure of a load becomes an :class:`~flm_core.FLMError`.

The manifest declares each tensor's dtype and shape before its bytes. Like safetensors'
header, it is checked whole before the first ``torch.empty``: ranks, element counts and the
total must fit the limits below and the memory this machine has. The bytes themselves are
bounded by the core, which refuses a section that decompresses past its own limits
(``flm_core.Limits``) before handing the plugin a byte of it; an allocated tensor's pages
are only touched as its bytes arrive.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import flm_core
from flm_core import FLMError, FormatError

MAX_RANK = 64  # torch's own limit on dimensions is in this range
MAX_TENSORS = 1_000_000
MAX_TOTAL_BYTES = 1 << 40  # 1 TiB: no checkpoint today comes close
TOTAL_ENV = "FLM_TORCH_MAX_BYTES"  # a bound of one's own, in bytes, for a stricter service

F = TypeVar("F", bound=Callable[..., Any])
LimitError: type[FLMError] = getattr(flm_core, "LimitError", FormatError)


def physical_memory() -> int | None:
    """RAM of this machine in bytes, where the OS says (Linux, macOS); None elsewhere."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return None


def total_limit() -> int:
    text = os.environ.get(TOTAL_ENV, "")
    try:
        chosen = int(text) if text else MAX_TOTAL_BYTES
    except ValueError as exc:
        raise flm_core.OptionError(f"{TOTAL_ENV}={text!r} is not a number of bytes") from exc
    return min(chosen, MAX_TOTAL_BYTES)


def check_tensors(entries: list[dict[str, Any]], dtypes: Mapping[str, Any],
                  on_cpu: bool = True) -> int:
    """Refuse a manifest that asks for more than the limits or this machine's memory; return
    the bytes it declares. ``entries`` passed ``_format``'s structural checks already."""
    if len(entries) > MAX_TENSORS:
        raise LimitError(f"the torch manifest lists {len(entries)} tensors, more than "
                         f"{MAX_TENSORS}")
    total = 0
    for entry in entries:
        shape = entry["shape"]
        if len(shape) > MAX_RANK:
            raise FormatError(f"tensor {entry['name']!r:.100} has {len(shape)} dimensions, "
                              f"more than {MAX_RANK}")
        if "tie" not in entry:  # a tied entry shares an earlier tensor's storage
            total += math.prod(shape) * dtypes[entry["dtype"]].itemsize
    limit = total_limit()
    if total > limit:
        raise LimitError(f"the torch manifest declares {total} bytes of tensors, more than "
                         f"the limit of {limit} ({TOTAL_ENV} sets a lower one)")
    memory = physical_memory() if on_cpu else None
    if memory is not None and total > memory:
        raise LimitError(f"the torch manifest declares {total} bytes of tensors, more than "
                         f"this machine's {memory} bytes of memory")
    return total


def flm_errors(function: F) -> F:
    """Make every failure of ``function`` an FLMError: torch raises RuntimeError,
    RecursionError, SyntaxError, AssertionError... on programs it cannot rebuild, and
    ``ExportedProgram.module()`` generates and compiles code. FLMErrors pass unchanged."""
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except FLMError:
            raise
        except MemoryError as exc:
            raise LimitError(f"loading the torch model ran out of memory: {exc}") from exc
        except Exception as exc:
            if type(exc).__name__ == "OutOfMemoryError":  # torch's, a RuntimeError
                raise LimitError(f"loading the torch model ran out of memory: {exc}") from exc
            raise FormatError(f"the torch payload cannot be loaded: {type(exc).__name__}: "
                              f"{str(exc)[:500]}") from exc
    return wrapper  # type: ignore[return-value]
