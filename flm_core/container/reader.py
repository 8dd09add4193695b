"""Reading a file: the head alone, the tail alone, or every section in order."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Any

import attrs

from flm_core import schema
from flm_core.container.layout import (
    BLOCK,
    BLOCK_SLACK,
    CRC,
    END,
    END_MAGIC,
    HEADER,
    MAGIC,
    MAX_BLOCK,
    MAX_METADATA,
    TRAILER,
    TRAILER_TAG,
    VERSION,
    Source,
)
from flm_core.container.sections import SectionReader, read_section_header, section_info
from flm_core.errors import ChecksumError, FormatError, LimitError
from flm_core.limits import DEFAULT_LIMITS, Budget, Limits, check_depth
from flm_core.meta import Metadata, SectionInfo
from flm_core.records import Codec

if TYPE_CHECKING:
    from concurrent.futures import Executor


def _json(data: bytes, what: str, limits: Limits) -> Any:
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormatError(f"{what} is not valid JSON: {exc}") from exc
    except RecursionError as exc:  # nested past the interpreter's stack, far past max_depth
        raise LimitError(f"{what} nests deeper than {limits.max_depth} levels") from exc
    check_depth(value, limits.max_depth, what)
    return value


def _check_length(length: int, what: str, limits: Limits) -> None:
    if length > min(MAX_METADATA, limits.max_metadata_bytes):
        raise LimitError(f"{what} is {length} bytes, more than "
                         f"{min(MAX_METADATA, limits.max_metadata_bytes)}")


def read_head(source: Source) -> Metadata:
    """Header and metadata: the first few KB of the file, whatever the model's size."""
    header = source.read(HEADER.size, "header")
    magic, version, flags, meta_len = HEADER.unpack(header)
    if magic != MAGIC:
        raise FormatError("not an FLM file (bad magic bytes)")
    source.read_crc("header", header)
    if version > VERSION:
        raise FormatError(
            f"FLM format version {version} is newer than this flm-core reads ({VERSION}); "
            "upgrade flm-core"
        )
    if version < 1 or flags:
        raise FormatError("malformed FLM header")
    limits = source.budget.limits
    _check_length(meta_len, "the metadata", limits)
    head = source.read(meta_len, "metadata")
    source.read_crc("metadata", head)
    meta = Metadata.from_dict(_json(head, "metadata", limits))
    if meta.format.version != version:
        raise FormatError("metadata format version disagrees with the header")
    source.budget.check_artifact_count(len(meta.format.artifacts))
    return meta


def _parse_trailer(body: bytes, limits: Limits) -> tuple[SectionInfo, ...]:
    data = _json(body, "trailer", limits)
    schema.check_trailer(data)
    return tuple(SectionInfo(**s) for s in data["sections"])


def read_trailer(source: Source) -> tuple[SectionInfo, ...]:
    """The trailer and end record, read in sequence; the file must end right after."""
    tag = source.read(TRAILER.size, "trailer")
    _, length = TRAILER.unpack(tag)
    _check_length(length, "the trailer", source.budget.limits)
    body = source.read(length, "trailer")
    source.read_crc("trailer", tag, body)
    end_length, end_magic = END.unpack(source.read(END.size, "end record"))
    if end_magic != END_MAGIC or end_length != length:
        raise FormatError("malformed end record")
    if not source.at_eof():
        raise FormatError("unexpected bytes after the end record")
    return _parse_trailer(body, source.budget.limits)


def read_tail(stream: IO[bytes], limits: Limits | None = None) -> tuple[SectionInfo, ...]:
    """The trailer of a seekable stream, read from its end: constant time in the model size."""
    limits = limits or DEFAULT_LIMITS
    size = stream.seek(0, os.SEEK_END)
    if size < END.size:
        raise FormatError("file is truncated: no end record")
    stream.seek(size - END.size)
    length, end_magic = END.unpack(stream.read(END.size))
    if end_magic != END_MAGIC:
        raise FormatError("file is truncated or corrupt: bad end record")
    start = size - END.size - CRC.size - length - TRAILER.size
    if start < 0:
        raise FormatError("malformed end record")
    _check_length(length, "the trailer", limits)
    stream.seek(start)
    source = Source(stream, offset=start, budget=Budget(limits))
    tag = source.read(TRAILER.size, "trailer")
    tag_name, tag_length = TRAILER.unpack(tag)
    body = source.read(length, "trailer")
    source.read_crc("trailer", tag, body)
    if tag_name != TRAILER_TAG or tag_length != length:
        raise FormatError("malformed trailer")
    return _parse_trailer(body, limits)


@attrs.define
class Section:
    """A section being read: its header fields and a stream over its raw bytes."""

    kind: str
    name: str
    codec: str
    offset: int
    reader: SectionReader

    def finish(self) -> SectionInfo:
        return section_info(self.kind, self.name, self.codec, self.offset, self.reader.finish())


def iter_section_headers(source: Source) -> Iterator[tuple[str, str, str, int]]:
    """Yield (kind, codec, name, offset) per section; read its blocks before the next."""
    while source.peek(len(TRAILER_TAG)) != TRAILER_TAG:
        yield read_section_header(source)


def iter_sections(
    source: Source,
    codec_for: Callable[[str], Codec],
    pool: Executor | None,
    workers: int,
    digest: bool = True,
) -> Iterator[Section]:
    """Yield each section in file order; the caller reads it, then calls ``finish()``.

    With ``digest=False`` the sha256 of each section is not computed (crc32s still are)."""
    for kind, codec_name, name, offset in iter_section_headers(source):
        reader = SectionReader(source, codec_for(codec_name), pool, workers,
                               what=f"{kind} {name!r}" if name else kind, digest=digest,
                               kind=kind)
        yield Section(kind, name, codec_name, offset, reader)


def check_trailer(parsed: list[SectionInfo], recorded: tuple[SectionInfo, ...]) -> None:
    """The trailer must describe exactly the sections read; digests left empty aren't compared.

    The error names the first section that differs, where it starts and what differs."""
    if len(parsed) != len(recorded):
        raise ChecksumError(f"the trailer lists {len(recorded)} sections but the file holds "
                            f"{len(parsed)}")
    for read, listed in zip(parsed, recorded, strict=True):
        if not read.sha256:
            listed = attrs.evolve(listed, sha256="")
        if read != listed:
            fields = [f.name for f in attrs.fields(SectionInfo)
                      if getattr(read, f.name) != getattr(listed, f.name)]
            name = f"{read.kind} {read.name!r}" if read.name else read.kind
            raise ChecksumError(f"the trailer does not match the {name} section at offset "
                                f"{read.offset} ({', '.join(fields)} differ)")


def skip_blocks(source: Source, what: str) -> None:
    """Walk a section's blocks checking only the framing and crc32s: no decompression."""
    while True:
        head = source.read(BLOCK.size, f"block header of {what}")
        raw_size, stored_size, *_ = BLOCK.unpack(head)
        if raw_size > MAX_BLOCK or stored_size > MAX_BLOCK + BLOCK_SLACK:
            raise FormatError(f"malformed block header in {what}")
        if raw_size == 0 and stored_size == 0:
            source.read_crc(f"end of {what}", head)
            return
        data = source.read(stored_size, f"block of {what}")
        source.read_crc(f"block of {what}", head, data)
