"""Integrity: every damaged byte, truncation or appendage is refused; foreign, newer and
malformed files are refused with a FormatError that says why."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flm_core
from flm_core.container.layout import CRC, HEADER, MAGIC, SECTION, TRAILER, crc32

PROPERTY = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLM_THREADS", "1")


@pytest.fixture
def data(small_file: Path, one_thread: None) -> bytes:
    return small_file.read_bytes()


def _refused(data: bytes) -> None:
    """load and verify both raise FormatError (ChecksumError is one) on ``data``."""
    with pytest.raises(flm_core.FormatError):
        flm_core.load(io.BytesIO(data)).close()
    with pytest.raises(flm_core.FormatError):
        flm_core.verify(io.BytesIO(data))


def test_the_undamaged_file_loads_and_verifies(data: bytes, toy: Any) -> None:
    with flm_core.load(io.BytesIO(data)) as loaded:
        assert loaded.model == toy.model(size=40, weights=6)
    assert flm_core.verify(io.BytesIO(data)).model_digest


def test_flipping_any_single_byte_is_detected(data: bytes) -> None:
    """Exhaustive: every position, with a mask that varies over the positions."""
    assert len(data) < 2000
    for position in range(len(data)):
        damaged = bytearray(data)
        damaged[position] ^= (position * 37) % 255 + 1
        _refused(bytes(damaged))


@PROPERTY
@given(st.data())
def test_flipping_a_byte_with_any_mask_is_detected(data: bytes, draw: st.DataObject) -> None:
    position = draw.draw(st.integers(0, len(data) - 1), label="position")
    mask = draw.draw(st.integers(1, 255), label="mask")
    damaged = bytearray(data)
    damaged[position] ^= mask
    _refused(bytes(damaged))


def test_truncation_at_every_length_is_detected(data: bytes) -> None:
    for length in range(len(data)):
        _refused(data[:length])
        with pytest.raises(flm_core.FormatError):
            flm_core.read_meta(io.BytesIO(data[:length]))


@PROPERTY
@given(garbage=st.binary(min_size=1, max_size=64))
def test_trailing_garbage_is_detected(data: bytes, garbage: bytes) -> None:
    _refused(data + garbage)


def test_a_second_copy_of_the_file_appended_is_detected(data: bytes) -> None:
    _refused(data + data)


def test_a_checksum_error_is_a_format_error(data: bytes) -> None:
    damaged = bytearray(data)
    damaged[HEADER.size + CRC.size + 5] ^= 1  # inside the metadata
    with pytest.raises(flm_core.ChecksumError, match="metadata checksum"):
        flm_core.verify(io.BytesIO(bytes(damaged)))
    assert issubclass(flm_core.ChecksumError, flm_core.FormatError)


def _forge_model_entry(data: bytes, flmfile: Any, key: str, value: Any) -> bytes:
    """The file with one field of the model's trailer entry changed, trailer crc recomputed."""
    walk = flmfile.walk(data)
    body_at = walk.trailer_offset + TRAILER.size
    trailer = json.loads(data[body_at : len(data) - CRC.size - 12])
    trailer["sections"][-1][key] = value(trailer["sections"][-1][key])
    return data[: walk.trailer_offset] + flmfile.tail(trailer["sections"])


def test_load_and_verify_reject_a_forged_digest_that_read_meta_reports_as_claimed(
    data: bytes, flmfile: Any,
) -> None:
    # Another payload claiming an approved model's digest, trailer crc recomputed.
    forged = _forge_model_entry(data, flmfile, "sha256", lambda _: "0" * 64)
    assert flm_core.read_meta(io.BytesIO(forged)).model_digest == "0" * 64  # head+tail only
    with pytest.raises(flm_core.ChecksumError, match=r"trailer does not match.*sha256"):
        flm_core.load(io.BytesIO(forged))
    with pytest.raises(flm_core.ChecksumError, match=r"trailer does not match.*sha256"):
        flm_core.verify(io.BytesIO(forged))


def test_load_rejects_a_trailer_disagreeing_with_the_section_sizes(
    data: bytes, flmfile: Any,
) -> None:
    forged = _forge_model_entry(data, flmfile, "raw_size", lambda size: size + 1)
    with pytest.raises(flm_core.ChecksumError, match="trailer does not match"):
        flm_core.load(io.BytesIO(forged))


# --------------------------------------------------------------------------- foreign files


def _with_header(data: bytes, version: int = 1, flags: int = 0) -> bytes:
    _, _, _, meta_len = HEADER.unpack_from(data)
    header = HEADER.pack(MAGIC, version, flags, meta_len)
    return header + CRC.pack(crc32(header)) + data[HEADER.size + CRC.size :]


@pytest.mark.parametrize("action", ["load", "verify", "read_meta"])
def test_a_newer_format_version_is_refused_as_newer(data: bytes, action: str) -> None:
    bumped = _with_header(data, version=2)
    changed = [i for i, (a, b) in enumerate(zip(bumped, data, strict=True)) if a != b]
    assert changed[0] == 8 and changed[-1] < HEADER.size + CRC.size  # version and header crc
    with pytest.raises(flm_core.FormatError, match="newer"):
        getattr(flm_core, action)(io.BytesIO(bumped))


@pytest.mark.parametrize(("version", "flags"), [(0, 0), (1, 1), (1, 0x8000)])
def test_a_malformed_header_with_a_valid_checksum_is_refused(
    data: bytes, version: int, flags: int,
) -> None:
    with pytest.raises(flm_core.FormatError, match="malformed FLM header"):
        flm_core.read_meta(io.BytesIO(_with_header(data, version, flags)))


@pytest.mark.parametrize("action", ["load", "verify", "read_meta"])
def test_an_empty_file_is_refused(action: str, tmp_path: Path, toy: Any) -> None:
    (tmp_path / "empty.flm").write_bytes(b"")
    with pytest.raises(flm_core.FormatError, match="truncated"):
        getattr(flm_core, action)(tmp_path / "empty.flm")


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(st.binary(min_size=HEADER.size + CRC.size, max_size=200).filter(
    lambda b: not b.startswith(MAGIC)))
def test_foreign_bytes_are_refused_as_not_an_flm_file(blob: bytes) -> None:
    for action in (flm_core.load, flm_core.verify, flm_core.read_meta):
        with pytest.raises(flm_core.FormatError, match="not an FLM file"):
            action(io.BytesIO(blob))


@pytest.mark.parametrize("text", [b"PK\x03\x04" + bytes(40), b"\x80\x04\x95" + bytes(40),
                                  b'{"format": 1}' + bytes(40)], ids=["zip", "pickle", "json"])
def test_common_foreign_formats_are_refused(text: bytes) -> None:
    with pytest.raises(flm_core.FormatError, match="not an FLM file"):
        flm_core.load(io.BytesIO(text))


# --------------------------------------------------------------------------- crafted files


def test_an_unknown_section_tag_is_refused(flmfile: Any) -> None:
    head = SECTION.pack(b"EVIL", 4, 0) + b"zlib"
    data = flmfile.header(flmfile.metadata()) + head + CRC.pack(crc32(head)) + flmfile.tail([])
    with pytest.raises(flm_core.FormatError, match="unknown section tag"):
        flm_core.verify(io.BytesIO(data))


def test_metadata_disagreeing_with_the_header_version_is_refused(flmfile: Any) -> None:
    meta = json.loads(flmfile.metadata())
    meta["format"]["version"] = 7
    data = flmfile.header(json.dumps(meta).encode()) + flmfile.tail([])
    with pytest.raises(flm_core.FormatError, match="disagrees"):
        flm_core.read_meta(io.BytesIO(data))


@pytest.mark.parametrize("meta", [b"not json", b"[1, 2]", b'{"id": "x"}', b"\xff\xfe"])
def test_malformed_metadata_with_a_valid_checksum_is_refused(flmfile: Any, meta: bytes) -> None:
    with pytest.raises(flm_core.FormatError):
        flm_core.read_meta(io.BytesIO(flmfile.header(meta) + flmfile.tail([])))


def test_a_file_with_two_model_sections_is_refused(flmfile: Any, toy: Any) -> None:
    payload = b'{"blob": 0, "typecode": "f", "n": 0}\n'
    block = flmfile.block(len(payload), payload)
    data = (flmfile.header(flmfile.metadata(codec="none"))
            + flmfile.section("model", "none", "", [block])
            + flmfile.section("model", "none", "", [block]) + flmfile.tail([]))
    with pytest.raises(flm_core.FormatError, match="more than one model"):
        flm_core.load(io.BytesIO(data))


def test_a_file_without_a_model_section_is_refused(flmfile: Any, toy: Any) -> None:
    data = flmfile.header(flmfile.metadata(codec="none")) + flmfile.tail([])
    with pytest.raises(flm_core.FormatError, match="lacks its model"):
        flm_core.load(io.BytesIO(data))
