"""The opt-in cache: a hit downloads only the head and tail; a replaced object, or an entry
altered on disk, is never used."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("s3fs", reason="the remote tests need the remote extra, s3fs and moto")
pytest.importorskip("moto.server", reason="the remote tests need moto[server]")

import flm_core
from flm_core.container.layout import BLOCK, CRC, crc32


@pytest.fixture
def stored(toy: Any, s3: Any, bucket: str) -> tuple[str, Any]:
    url = f"s3://{bucket}/served.flm"
    model = toy.model(size=3_000_000, weights=1000)
    flm_core.dump(model, url, compression="none", storage_options=s3.options())
    return url, model


def _load(url: str, s3: Any, cache: Path, endpoint: str | None = None) -> Any:
    with flm_core.load(url, storage_options=s3.options(endpoint), cache_dir=cache) as artifact:
        return artifact.model


def test_a_hit_downloads_only_the_head_and_tail(stored: tuple[str, Any], s3: Any,
                                                meter: Any, tmp_path: Path) -> None:
    url, model = stored
    meter.reset()
    assert _load(url, s3, tmp_path, meter.endpoint) == model
    first = meter.received
    meter.reset()
    assert _load(url, s3, tmp_path, meter.endpoint) == model
    assert first > 3_000_000 and meter.received < 64 * 1024
    assert len(list(tmp_path.glob("*.flm"))) == 1


def test_a_replaced_object_is_downloaded_again(toy: Any, stored: tuple[str, Any], s3: Any,
                                               tmp_path: Path) -> None:
    url, model = stored
    assert _load(url, s3, tmp_path) == model
    newer = toy.model(size=2_000_000, weights=10)
    flm_core.dump(newer, url, compression="none", storage_options=s3.options())
    assert _load(url, s3, tmp_path) == newer
    assert len(list(tmp_path.glob("*.flm"))) == 2  # keyed by digest: both versions


def _only_entry(cache: Path) -> Path:
    (entry,) = cache.glob("*.flm")
    return entry


def test_an_entry_with_a_flipped_byte_is_replaced_not_used(
    stored: tuple[str, Any], s3: Any, tmp_path: Path, flmfile: Any,
) -> None:
    url, model = stored
    _load(url, s3, tmp_path)
    entry = _only_entry(tmp_path)
    good = entry.read_bytes()
    data = bytearray(good)
    block = flmfile.walk(good).sections[0].blocks[-1]
    data[block.offset + BLOCK.size + 100] ^= 0xFF
    entry.write_bytes(bytes(data))
    assert _load(url, s3, tmp_path) == model
    assert _only_entry(tmp_path).read_bytes() == good


def test_an_entry_forged_with_valid_checksums_fails_its_digest_and_is_replaced(
    stored: tuple[str, Any], s3: Any, tmp_path: Path, flmfile: Any,
) -> None:
    url, model = stored
    _load(url, s3, tmp_path)
    entry = _only_entry(tmp_path)
    good = entry.read_bytes()
    data = bytearray(good)
    block = flmfile.walk(good).sections[0].blocks[-1]  # codec none: stored bytes are raw
    start, end = block.offset + BLOCK.size, block.offset + BLOCK.size + block.stored_size
    data[start + 100] ^= 0xFF
    data[end : end + CRC.size] = CRC.pack(crc32(data[block.offset : start], data[start:end]))
    entry.write_bytes(bytes(data))
    with pytest.raises(flm_core.ChecksumError, match="sha256"):  # every crc32 passes
        flm_core.verify(entry)
    assert _load(url, s3, tmp_path) == model  # the cache checks the sha256s too
    assert _only_entry(tmp_path).read_bytes() == good


def test_a_truncated_entry_is_replaced(stored: tuple[str, Any], s3: Any,
                                       tmp_path: Path) -> None:
    url, model = stored
    _load(url, s3, tmp_path)
    entry = _only_entry(tmp_path)
    good = entry.read_bytes()
    entry.write_bytes(good[: len(good) // 2])
    assert _load(url, s3, tmp_path) == model
    assert _only_entry(tmp_path).read_bytes() == good
