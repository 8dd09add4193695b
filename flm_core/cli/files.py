"""Where the ``flm`` command opens files and draws progress: one place for each, so standard
streams (``-``) and URLs (with ``--storage-option``) slot in without touching the commands."""

from __future__ import annotations

import contextlib
import json
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


# --storage-option pairs of this run, for URLs (set by main from the command line)
STORAGE_OPTIONS: dict[str, Any] = {}


def _is_url(name: str) -> bool:
    if "://" not in name:  # flm_core.remote, and fsspec, only for URLs
        return False
    from flm_core.remote import is_url

    return is_url(name)


def display_name(name: str) -> str:
    """How errors and output name a file: a URL without its user, password or query."""
    if name == STDIO:
        return "<stdin>"
    if _is_url(name):
        from flm_core.remote import redact

        return redact(name)
    return name


def storage_options(pairs: list[str]) -> dict[str, Any]:
    """``--storage-option`` values: ``KEY=VALUE`` sets a string, ``KEY:=JSON`` a JSON
    value (``anon:=true``); a dotted key nests (``client_kwargs.region_name=eu-west-1``)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.rstrip(":"):  # the value is never echoed: it may be a secret
            raise UsageError("--storage-option takes KEY=VALUE or KEY:=JSON")
        parsed: Any = value
        if key.endswith(":"):
            key = key[:-1]
            try:
                parsed = json.loads(value)
            except ValueError:
                raise UsageError(f"--storage-option {key}:= takes a JSON value") from None
        *parents, last = key.split(".")
        target = options
        for parent in parents:
            target = target.setdefault(parent, {})
        target[last] = parsed
    return options


@contextlib.contextmanager
def open_input(name: str, buffering: int = 1024 * 1024) -> Iterator[Any]:
    """A binary stream over ``name``: a path, or ``-`` for standard input."""
    if name == STDIO:
        if sys.stdin is None or sys.stdin.isatty():
            raise UsageError("standard input is a terminal; pipe or redirect a file into it")
        yield sys.stdin.buffer
        return
    if _is_url(name):
        from flm_core.remote import reading

        with reading(name, STORAGE_OPTIONS) as remote:
            yield remote
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
    if _is_url(name):  # uploaded as written, visible only once complete
        from flm_core.remote import writing

        with writing(name, STORAGE_OPTIONS) as remote:
            yield remote
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
