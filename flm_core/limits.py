"""What reading one file may cost at most, checked before the bytes are used.

Every block declares its raw size before its data, so the totals below are checked as each
block header is read: a hostile file is refused after reading at most one block more than
the limits allow, and never decompressed or unpacked beyond them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs

from flm_core.errors import LimitError

KIB, MIB, GIB, TIB = 1 << 10, 1 << 20, 1 << 30, 1 << 40


@attrs.frozen
class Limits:
    """Bounds on one ``load``, ``verify`` or ``read_meta``; pass ``limits=Limits(...)``.

    The defaults admit any real model up to a terabyte: only a file that claims to expand
    far beyond its own bytes, or nests its JSON absurdly deep, is refused. Raise a bound
    when you trust a file that exceeds it.

    :param max_total_bytes: raw (decompressed) bytes of all sections together.
    :param max_ratio: raw bytes per stored byte, over the whole file so far, once the raw
        total passes ``ratio_floor``. Weights compress 1.1-3x; only a decompression bomb
        expands a thousandfold.
    :param ratio_floor: raw bytes any file may expand to, whatever its ratio.
    :param max_artifacts: artifacts a file may list.
    :param max_artifact_bytes: raw bytes of all artifacts together.
    :param max_metadata_bytes: size of the metadata, and of the trailer, JSON.
    :param max_depth: nesting of that JSON (objects and arrays).
    """

    max_total_bytes: int = TIB
    max_ratio: int = 1000
    ratio_floor: int = 256 * MIB
    max_artifacts: int = 10_000
    max_artifact_bytes: int = 64 * GIB
    max_metadata_bytes: int = 16 * MIB
    max_depth: int = 64


DEFAULT_LIMITS = Limits()
_HINT = "if you trust the file, pass limits=flm_core.Limits({}=...) to raise the bound"


class Budget:
    """The running totals of one read, charged block by block."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or DEFAULT_LIMITS
        self.raw = self.stored = self.artifact_raw = 0

    def charge(self, kind: str, raw: int, stored: int, where: str) -> None:
        """Count a block about to be read; raise :class:`LimitError` past a bound."""
        limits = self.limits
        self.raw += raw
        self.stored += stored
        if kind == "artifact":
            self.artifact_raw += raw
            if self.artifact_raw > limits.max_artifact_bytes:
                raise LimitError(f"artifacts expand past {limits.max_artifact_bytes} bytes at "
                                 f"{where}; {_HINT.format('max_artifact_bytes')}")
        if self.raw > limits.max_total_bytes:
            raise LimitError(f"the file expands past {limits.max_total_bytes} bytes at {where}; "
                             f"{_HINT.format('max_total_bytes')}")
        if self.raw > max(limits.ratio_floor, self.stored * limits.max_ratio):
            raise LimitError(
                f"the file expands {self.raw} bytes from {self.stored} stored at {where}, more "
                f"than {limits.max_ratio}x: a decompression bomb? {_HINT.format('max_ratio')}")

    def check_artifact_count(self, count: int) -> None:
        if count > self.limits.max_artifacts:
            raise LimitError(f"the file lists {count} artifacts, more than "
                             f"{self.limits.max_artifacts}; {_HINT.format('max_artifacts')}")


def check_depth(value: Any, max_depth: int, what: str) -> None:
    """Refuse JSON nested deeper than ``max_depth``, without recursing."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > max_depth:
                raise LimitError(f"{what} nests deeper than {max_depth} levels; "
                                 f"{_HINT.format('max_depth')}")
            stack.extend((child, depth + 1) for child in _children(item))


def _children(item: dict[str, Any] | list[Any]) -> Iterator[Any]:
    return iter(item.values()) if isinstance(item, dict) else iter(item)
