"""Errors name the damaged section and a true file offset, whichever way the file is read."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import flm_core


def _offset(message: str) -> int:
    found = re.search(r"offset (\d+)", message)
    assert found, message
    return int(found[1])


def test_a_trailer_flip_reports_the_same_file_offset_from_read_meta_and_verify(
    small_file: Path, flmfile: Any,
) -> None:
    data = bytearray(small_file.read_bytes())
    trailer = flmfile.walk(bytes(data)).trailer_offset
    data[trailer + 12] ^= 1  # inside the trailer's JSON
    small_file.write_bytes(bytes(data))
    with pytest.raises(flm_core.ChecksumError) as from_tail:
        flm_core.read_meta(small_file)
    with pytest.raises(flm_core.ChecksumError) as in_sequence:
        flm_core.verify(small_file)
    assert _offset(str(from_tail.value)) == _offset(str(in_sequence.value))
    assert _offset(str(from_tail.value)) > trailer  # not an offset inside the tail buffer


def test_a_damaged_block_names_its_section_and_offset(small_file: Path, flmfile: Any) -> None:
    data = bytearray(small_file.read_bytes())
    model = flmfile.walk(bytes(data)).sections[-1]
    block = model.blocks[0]
    data[block.end - 6] ^= 1  # in the stored bytes, before the crc
    small_file.write_bytes(bytes(data))
    with pytest.raises(flm_core.ChecksumError,
                       match=rf"block checksum mismatch in model at offset {block.offset}$"):
        flm_core.verify(small_file)


def test_a_trailer_that_disagrees_names_the_section(
    small_file: Path, flmfile: Any,
) -> None:
    data = small_file.read_bytes()
    walk = flmfile.walk(data)
    sections = flm_core.read_meta(small_file).format.sections
    forged = [dict(kind=s.kind, name=s.name, codec=s.codec, offset=s.offset,
                   raw_size=s.raw_size + (s.kind == "artifact"), stored_size=s.stored_size,
                   blocks=s.blocks, sha256=s.sha256) for s in sections]
    small_file.write_bytes(data[: walk.trailer_offset] + flmfile.tail(forged))
    artifact = walk.sections[0]
    with pytest.raises(flm_core.ChecksumError,
                       match=rf"artifact 'foo.json' section at offset {artifact.offset} "
                             r"\(raw_size differ\)"):
        flm_core.verify(small_file)
