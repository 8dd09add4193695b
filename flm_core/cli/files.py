"""Where the ``flm`` command opens files and draws progress: one place for each, so standard
streams (``-``) and, later, URLs and their options slot in without touching the commands."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flm_core.errors import FLMError
from flm_core.progress import ProgressCallback

STDIO = "-"
# Below this a bar would only flash; --progress shows it anyway.
BAR_MIN_BYTES = 32 * 1024 * 1024


class UsageError(FLMError):
    """A command line that cannot work, reported like any other error."""


def display_name(name: str) -> str:
    return "<stdin>" if name == STDIO else name


@contextlib.contextmanager
def open_input(name: str, buffering: int = 1024 * 1024) -> Iterator[Any]:
    """A binary stream over ``name``: a path, or ``-`` for standard input."""
    if name == STDIO:
        if sys.stdin is None or sys.stdin.isatty():
            raise UsageError("standard input is a terminal; pipe or redirect a file into it")
        yield sys.stdin.buffer
        return
    with open(name, "rb", buffering=buffering) as stream:
        yield stream


@contextlib.contextmanager
def open_output(name: str) -> Iterator[Any]:
    """A binary stream to ``name``: ``-`` for standard output, else a path written
    atomically (a temporary file renamed over it once complete)."""
    if name == STDIO:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    from flm_core.container.writer import atomic_path

    with atomic_path(Path(name)) as stream:
        yield stream


@contextlib.contextmanager
def progress_bar(mode: str, label: str,
                 size: int | None) -> Iterator[ProgressCallback | None]:
    """A callback drawing a bar on standard error, or ``None``.

    No bar with ``mode="never"``; with ``"auto"``, none off a terminal or for a file under
    ``BAR_MIN_BYTES``; none, silently, when tqdm is not installed (it is optional)."""
    small = size is not None and size < BAR_MIN_BYTES
    if mode == "never" or (mode == "auto" and (small or not sys.stderr.isatty())):
        yield None
        return
    try:
        from tqdm import tqdm  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        yield None
        return
    bar = tqdm(total=size, desc=label, unit="B", unit_scale=True, unit_divisor=1024,
               leave=False, file=sys.stderr, dynamic_ncols=True)

    def update(done: int, total: int | None) -> None:
        if total is not None and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()
