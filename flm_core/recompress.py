"""Re-encode a file with another codec without building its model: no plugin, no framework."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import attrs

from flm_core.api import Target, _pool, _reading
from flm_core.codecs import codec_named
from flm_core.container.layout import Sink, Source
from flm_core.container.reader import check_trailer, iter_sections, read_head, read_trailer
from flm_core.container.sections import SectionReader, SectionWriter
from flm_core.container.writer import (
    atomic_path,
    encode_head,
    write_head,
    write_section,
    write_trailer,
)
from flm_core.meta import Metadata
from flm_core.progress import ProgressCallback, reporter, stream_size

# A shuffled block's raw bytes, viewed with its element size, get the same filter again.
_TYPECODES: dict[int, Literal["H", "I", "Q"]] = {2: "H", 4: "I", 8: "Q"}


@contextlib.contextmanager
def _writing(target: Target) -> Iterator[Any]:
    if isinstance(target, (str, os.PathLike)):
        with atomic_path(Path(os.fspath(target))) as stream:
            yield stream
    else:
        yield target


def _copy_blocks(reader: SectionReader) -> Callable[[SectionWriter], None]:
    def fill(section: SectionWriter) -> None:
        while (block := reader.read_block()) is not None:
            typecode = _TYPECODES.get(reader.itemsize)
            section.write(block.cast(typecode) if typecode else block)

    return fill


def recompress(
    source: Target,
    target: Target,
    *,
    compression: str = "zstd",
    progress: ProgressCallback | None = None,
) -> Metadata:
    """Copy ``source`` to ``target`` with every section re-encoded with ``compression``.

    Every block is decoded and checked, then encoded again with its byte-shuffle filter
    kept. The raw bytes do not change, so neither does any section's sha256 nor the model
    digest; the metadata is kept but for ``format.codec``. The model is never built, so
    neither its plugin nor its framework is needed. The source is verified to its last
    byte before the target is complete: writing to a path is atomic, so damage in the
    source leaves no target behind.

    :param progress: ``progress(done, total)``, bytes of ``source`` read (see
        :mod:`flm_core.progress`).
    :return: the target's :class:`Metadata`, sections included.
    """
    codec = codec_named(compression)
    with _reading(source) as stream:
        src = Source(stream, on_read=reporter(progress, stream_size(stream)))
        meta = read_head(src)
        head_meta = attrs.evolve(meta, format=attrs.evolve(meta.format, codec=codec.name))
        with _writing(target) as out:
            sink = Sink(out)
            write_head(sink, encode_head(head_meta))
            pool, workers = _pool()
            parsed, written = [], []
            for section in iter_sections(src, codec_named, pool, workers):
                written.append(write_section(sink, section.kind, section.name, codec,
                                             _copy_blocks(section.reader), pool, workers))
                parsed.append(section.finish())
            check_trailer(parsed, read_trailer(src))  # before the target is committed
            write_trailer(sink, written)
    return attrs.evolve(head_meta, format=attrs.evolve(head_meta.format, sections=written))
