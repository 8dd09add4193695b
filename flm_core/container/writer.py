"""Writing a whole file: header, metadata, artifact sections, model section, trailer."""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import attrs

from flm_core.container.layout import (
    ARTIFACT_TAG,
    END,
    END_MAGIC,
    HEADER,
    MAGIC,
    MAX_METADATA,
    MODEL_TAG,
    TRAILER,
    TRAILER_TAG,
    VERSION,
    Progress,
    Sink,
)
from flm_core.container.sections import SectionWriter, section_info, write_section_header
from flm_core.errors import MetadataError
from flm_core.meta import Metadata, SectionInfo
from flm_core.records import Codec

if TYPE_CHECKING:
    from concurrent.futures import Executor

COPY_CHUNK = 1024 * 1024


def encode_json(data: Any, what: str) -> bytes:
    try:
        return json.dumps(data, allow_nan=False, separators=(",", ":"),
                          ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise MetadataError(f"{what} must be JSON-serialisable: {exc}") from exc


def encode_head(meta: Metadata) -> bytes:
    head = encode_json(meta.to_dict(), "metadata (params, metrics, extra, info)")
    if len(head) > MAX_METADATA:
        raise MetadataError(f"metadata is {len(head)} bytes; the head holds {MAX_METADATA}")
    return head


def write_head(sink: Sink, head: bytes) -> None:
    """The header and the metadata, each with its crc32."""
    header = HEADER.pack(MAGIC, VERSION, 0, len(head))
    sink.write(header)
    sink.write_crc(header)
    sink.write(head)
    sink.write_crc(head)


def write_section(sink: Sink, kind: str, name: str, codec: Codec,
                  fill: Callable[[SectionWriter], None], pool: Executor | None,
                  workers: int) -> SectionInfo:
    """One section: its header, then the blocks ``fill`` writes, then the end block."""
    offset = write_section_header(sink, MODEL_TAG if kind == "model" else ARTIFACT_TAG,
                                  codec.name, name)
    section = SectionWriter(sink, codec, pool, workers)
    fill(section)
    return section_info(kind, name, codec.name, offset, section.finish())


def write_trailer(sink: Sink, sections: list[SectionInfo]) -> None:
    trailer = encode_json({"sections": [attrs.asdict(s) for s in sections]}, "trailer")
    tag = TRAILER.pack(TRAILER_TAG, len(trailer))
    sink.write(tag, trailer)
    sink.write_crc(tag, trailer)
    sink.write(END.pack(len(trailer), END_MAGIC))


def _copy_file(path: Path) -> Callable[[SectionWriter], None]:
    def fill(section: SectionWriter) -> None:
        with open(path, "rb") as src:
            while chunk := src.read(COPY_CHUNK):
                section.write(chunk)

    return fill


def write_file(
    stream: IO[bytes],
    head: bytes,
    codec: Codec,
    artifacts: Mapping[str, Path],
    write_model: Callable[[io.RawIOBase], None],
    pool: Executor | None,
    workers: int,
    on_write: Progress | None = None,
) -> tuple[SectionInfo, ...]:
    """Stream a complete file to ``stream`` (never seeks) and return its sections."""
    sink = Sink(stream, on_write)
    write_head(sink, head)
    sections = [write_section(sink, "artifact", name, codec, _copy_file(path), pool, workers)
                for name, path in artifacts.items()]
    sections.append(write_section(sink, "model", "", codec, write_model, pool, workers))
    write_trailer(sink, sections)
    return tuple(sections)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[IO[bytes]]:
    """A temporary file beside ``path``, renamed over it only once fully written and synced."""
    import tempfile

    directory = path.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would surprise whoever serves the file
        with os.fdopen(fd, "wb", buffering=COPY_CHUNK) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
