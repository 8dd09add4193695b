"""Progress of long operations: an opt-in callback, ``progress(done, total)``.

``done`` is the number of bytes of the file read (load, verify, recompress) or written
(dump) so far. ``total`` is the file's size when it is known beforehand, else ``None``: a
pipe, or a dump until it has finished, whose last call then has ``done == total``. Nothing
here draws: the ``flm`` command turns the callback into a bar.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Callable
from typing import Any

ProgressCallback = Callable[[int, "int | None"], None]


def stream_size(stream: Any) -> int | None:
    """The size of a regular file or a seekable stream, without reading it; else ``None``."""
    try:
        info = os.fstat(stream.fileno())
        size: int = info.st_size
        return size if stat.S_ISREG(info.st_mode) else None
    except (AttributeError, OSError, io.UnsupportedOperation, ValueError):
        pass
    try:
        if stream.seekable():
            here: int = stream.tell()
            end: int = stream.seek(0, os.SEEK_END)
            stream.seek(here)
            return int(end - here)
    except (AttributeError, OSError, ValueError):
        pass
    return None


class Reporter:
    """Turns the container's offset callbacks into ``progress(done, total)`` calls."""

    def __init__(self, progress: ProgressCallback, total: int | None) -> None:
        self.progress, self.total, self.done = progress, total, 0

    def __call__(self, done: int) -> None:
        self.done = done
        self.progress(done, self.total)

    def finish(self) -> None:
        """The last call, ``done == total``: a dump's size is known only now."""
        self.progress(self.done, self.done)


def reporter(progress: ProgressCallback | None, total: int | None) -> Reporter | None:
    """What the container's Source or Sink calls with its offset; None for no progress."""
    return None if progress is None else Reporter(progress, total)
