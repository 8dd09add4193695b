"""read_meta reads only the head and the tail, needs no plugin and no decompression; files
stream through pipes and other one-way, short-read, short-write streams."""

from __future__ import annotations

import builtins
import datetime
import io
import os
import random
import threading
from pathlib import Path
from typing import Any

import pytest

import flm_core
from flm_core import api, codecs

MODEL_SIZE = 20 * 1024 * 1024


class RecordingFile(io.RawIOBase):
    """A seekable raw file that records every byte range read."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "rb", buffering=0)  # noqa: SIM115 - closed in close()
        self.reads: list[tuple[int, int]] = []  # (offset, length)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        offset = self._file.tell()
        n = self._file.readinto(buffer)
        self.reads.append((offset, n or 0))
        return n  # type: ignore[no-any-return]

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def close(self) -> None:
        self._file.close()
        super().close()

    @property
    def bytes_read(self) -> int:
        return sum(n for _, n in self.reads)


class OneWayReader:
    """A read-only pipe-like stream: no seek, no tell, at most ``step`` bytes per read."""

    def __init__(self, data: bytes, step: int = 7) -> None:
        self._data, self._pos, self._step = data, 0, step

    def read(self, size: int = -1) -> bytes:
        size = self._step if size < 0 else min(size, self._step)
        chunk = self._data[self._pos : self._pos + size]
        self._pos += len(chunk)
        return chunk

    def seekable(self) -> bool:
        return False


class OneWayWriter(io.RawIOBase):
    """A write-only pipe-like raw stream that accepts at most ``step`` bytes per write."""

    def __init__(self, step: int | None = None) -> None:
        self.data = bytearray()
        self._step = step

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        raise OSError("not seekable")

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        taken = view[: self._step] if self._step else view
        self.data += taken
        return len(taken)


@pytest.fixture
def big_file(toy: Any, tmp_path: Path, artifact_file: Path) -> Path:
    path = tmp_path / "big.flm"
    model = toy.Toy(random.Random(0).randbytes(MODEL_SIZE))
    flm_core.dump(model, path, compression="none", artifacts={"foo.json": artifact_file})
    return path


def _model_range(path: Path, flmfile: Any) -> tuple[int, int]:
    with open(path, "rb") as f:  # walk the framing only: read headers, skip data
        data = f.read()
    section = next(s for s in flmfile.walk(data).sections if s.kind == "model")
    return section.blocks[0].offset, section.end


def _assert_head_and_tail_only(reads: list[tuple[int, int]], model: tuple[int, int]) -> None:
    assert sum(n for _, n in reads) < 64 * 1024
    for offset, n in reads:
        assert offset + n <= model[0] or offset >= model[1], f"read {n} bytes at {offset}"


def test_read_meta_of_a_seekable_stream_reads_only_head_and_tail(
    big_file: Path, flmfile: Any,
) -> None:
    stream = RecordingFile(big_file)
    with stream:
        meta = flm_core.read_meta(stream)
    assert meta.model_section is not None and meta.model_section.raw_size > MODEL_SIZE
    _assert_head_and_tail_only(stream.reads, _model_range(big_file, flmfile))


def test_read_meta_of_a_path_reads_only_head_and_tail(
    big_file: Path, flmfile: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened: list[RecordingFile] = []

    def recording_open(file: Any, mode: str = "r", buffering: int = -1, **kw: Any) -> Any:
        assert mode == "rb" and not kw
        raw = RecordingFile(Path(file))
        opened.append(raw)
        return raw if buffering == 0 else io.BufferedReader(raw, buffering if buffering > 0
                                                            else io.DEFAULT_BUFFER_SIZE)

    monkeypatch.setattr(api, "open", recording_open, raising=False)
    meta = flm_core.read_meta(big_file)
    assert meta.format.artifacts == ("foo.json",)
    (raw,) = opened
    _assert_head_and_tail_only(raw.reads, _model_range(big_file, flmfile))


def test_read_meta_equals_what_dump_returned_and_what_verify_reads(
    toy: Any, tmp_path: Path, artifact_file: Path,
) -> None:
    written = flm_core.dump(toy.model(), tmp_path / "m.flm", artifacts={"a.json": artifact_file})
    assert flm_core.read_meta(tmp_path / "m.flm") == written
    assert flm_core.verify(tmp_path / "m.flm") == written
    assert [s.kind for s in written.format.sections] == ["artifact", "model"]


@pytest.mark.parametrize("codec", ["zlib", "zstd"])
def test_read_meta_of_a_one_way_stream_scans_blocks_without_decompressing(
    toy: Any, codec: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, artifact_file: Path,
) -> None:
    path = tmp_path / "m.flm"
    written = flm_core.dump(toy.model(size=300_000), path, compression=codec,
                            artifacts={"foo.json": artifact_file})
    data = path.read_bytes()

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("read_meta decompressed a block")

    if codec == "zlib":
        monkeypatch.setattr(codecs.zlib, "decompressobj", refuse)
    else:
        monkeypatch.setattr(codecs, "zstd_backend", refuse)

    assert flm_core.read_meta(OneWayReader(data, step=4096)) == written
    with pytest.raises(flm_core.FormatError, match="cannot decode"):  # the patch is in force
        flm_core.load(OneWayReader(data, step=4096))


def test_read_meta_needs_no_plugin_but_load_names_the_one_to_install(
    toy: Any, small_file: Path,
) -> None:
    written = flm_core.read_meta(small_file)
    flm_core.plugins.get_plugin_manager().unregister(toy.plugin)

    assert flm_core.read_meta(small_file) == written
    assert flm_core.read_meta(OneWayReader(small_file.read_bytes())) == written
    assert flm_core.verify(small_file) == written
    with pytest.raises(flm_core.PluginNotFoundError, match="pip install flm-toy"):
        flm_core.load(small_file)


# --------------------------------------------------------------------------- one-way streams


@pytest.mark.parametrize("step", [None, 7], ids=["whole-writes", "7-byte-writes"])
def test_dump_to_a_write_only_stream_matches_dump_to_a_path(
    toy: Any, tmp_path: Path, artifact_file: Path, step: int | None,
) -> None:
    model = toy.model(size=200_000, weights=30_000)
    fixed = {"model_id": "12345678-1234-5678-1234-567812345678",
             "timestamp": datetime.datetime(2023, 3, 10),
             "artifacts": {"foo.json": artifact_file}}
    flm_core.dump(model, tmp_path / "m.flm", **fixed)
    out = OneWayWriter(step)
    flm_core.dump(model, out, **fixed)
    assert bytes(out.data) == (tmp_path / "m.flm").read_bytes()


def test_load_and_read_meta_from_a_one_way_stream_with_short_reads(
    toy: Any, small_file: Path,
) -> None:
    data = small_file.read_bytes()
    with flm_core.load(OneWayReader(data)) as loaded:
        assert loaded.model == toy.model(size=40, weights=6)
        assert loaded.artifacts["foo.json"].read_text() == '{"labels": ["cat", "dog"]}'
    assert flm_core.read_meta(OneWayReader(data)) == flm_core.read_meta(small_file)
    assert flm_core.verify(OneWayReader(data)) == flm_core.read_meta(small_file)


def test_round_trip_through_an_os_pipe(toy: Any) -> None:
    model = toy.model(size=300_000, weights=50_000)
    read_fd, write_fd = os.pipe()
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            with builtins.open(write_fd, "wb") as sink:
                flm_core.dump(model, sink)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    writer = threading.Thread(target=produce)
    writer.start()
    try:
        with builtins.open(read_fd, "rb", buffering=0) as source:
            assert not source.seekable()
            with flm_core.load(source) as loaded:
                assert loaded.model == model
    finally:
        writer.join()
    assert not errors
