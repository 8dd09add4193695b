"""Codecs: round trips through every built-in codec and block shape, the byte-shuffle filter,
both zstd backends, pluggable and unknown codecs, and the decompression-bomb guard."""

from __future__ import annotations

import array
import io
import lzma
import math
import random
import sys
import tracemalloc
import types
import zlib
from collections import Counter
from pathlib import Path
from typing import IO, Any

import attrs
import pytest

import flm_core
from flm_core import codecs
from flm_core.container import blocks, filters, sections
from flm_core.container.layout import BLOCK_SIZE, FILTER_SHUFFLE
from flm_core.plugins import Registry

CODECS = ["zstd", "zlib", "bz2", "lzma", "none"]
FAST_CODECS = ["zstd", "zlib", "none"]  # fast enough for multi-MiB payloads
SMALL_BLOCK = 4096


@attrs.frozen
class Blob:
    """A model whose payload is exactly its chunks, written one ``sink.write`` per chunk."""

    chunks: tuple[bytes, ...] = ()

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)


class BlobPlugin:
    @flm_core.hookimpl
    def flm_serializers(self) -> list[flm_core.Serializer]:
        def dump(model: Blob) -> flm_core.Payload:
            def write(sink: IO[bytes]) -> None:
                for chunk in model.chunks:
                    sink.write(chunk)

            return flm_core.Payload(write=write)

        return [flm_core.Serializer(
            name="blob", distribution="flm-blob", can_serialize=lambda m: isinstance(m, Blob),
            framework_version=lambda: "1.0", dump=dump,
            load=lambda stream, meta: Blob((stream.read(),)),
        )]


@pytest.fixture
def blob(register: Any) -> None:
    register(BlobPlugin(), name="flm-blob")


@pytest.fixture(params=["1", "2"], ids=["threads=1", "threads=2"])
def threads(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("FLM_THREADS", request.param)
    return str(request.param)


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(sections, "BLOCK_SIZE", SMALL_BLOCK)
    return SMALL_BLOCK


def _noise(size: int, seed: int = 0) -> bytes:
    """Partly compressible bytes: random 4 KiB runs repeated."""
    unit = random.Random(seed).randbytes(4096)
    return (unit * (size // 4096 + 1))[:size]


def _round_trip(model: Any, path: Path, codec: str, **kwargs: Any) -> tuple[Any, flm_core.Metadata]:
    written = flm_core.dump(model, path, compression=codec, **kwargs)
    with flm_core.load(path) as loaded:
        assert loaded.meta == written
        assert flm_core.verify(path) == written
        return loaded.model, written


SHAPES = {
    "empty": (),
    "one-byte": (b"\x01",),
    "exactly-one-block": (_noise(SMALL_BLOCK),),
    "one-block-plus-one": (_noise(SMALL_BLOCK + 1),),
    "several-blocks": (_noise(3 * SMALL_BLOCK + 17),),
    "large-single-write": (_noise(100_000),),
    "many-tiny-writes": tuple(b"%07d" % i for i in range(5000)),
    "tiny-then-large": (b"abc", _noise(70_000), b"", b"z"),
}


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_round_trip_preserves_payload_for_every_codec_and_block_shape(
    blob: None, small_blocks: int, threads: str, codec: str, shape: tuple[bytes, ...],
    tmp_path: Path,
) -> None:
    model = Blob(shape)
    loaded, meta = _round_trip(model, tmp_path / "m.flm", codec)
    assert loaded.data == model.data
    section = meta.model_section
    assert section is not None and section.codec == codec
    assert section.raw_size == len(model.data)
    if shape != SHAPES["tiny-then-large"]:  # that one flushes the tiny bytes as a block first
        assert section.blocks == math.ceil(len(model.data) / small_blocks)


@pytest.mark.parametrize("codec", FAST_CODECS)
@pytest.mark.parametrize("size", [0, BLOCK_SIZE, BLOCK_SIZE + 1, 2 * BLOCK_SIZE + 5],
                         ids=["empty", "BLOCK_SIZE", "BLOCK_SIZE+1", "several-blocks"])
def test_round_trip_at_real_block_size_boundaries(
    blob: None, threads: str, codec: str, size: int, tmp_path: Path,
) -> None:
    model = Blob((_noise(size),))
    loaded, meta = _round_trip(model, tmp_path / "m.flm", codec)
    assert loaded.data == model.data
    assert meta.model_section is not None
    assert meta.model_section.blocks == math.ceil(size / BLOCK_SIZE)


def test_dumps_with_different_codecs_record_the_same_digest(blob: None, tmp_path: Path) -> None:
    model = Blob((_noise(20_000),))
    digests = {flm_core.dump(model, tmp_path / f"{c}.flm", compression=c).model_digest
               for c in CODECS}
    assert len(digests) == 1


# --------------------------------------------------------------------------- shuffle filter


@pytest.fixture(params=["numpy", "pure-python"])
def shuffle_impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "numpy":
        pytest.importorskip("numpy")
        assert filters._numpy() is not None
    else:
        monkeypatch.setattr(filters, "_numpy", lambda: None)
    return str(request.param)


@pytest.mark.parametrize(("codec", "typecode"), [
    *[("zstd", t) for t in "fdh"], *[(c, "f") for c in CODECS if c != "zstd"],
])
def test_typed_buffers_round_trip_through_the_shuffle_filter(
    toy: Any, shuffle_impl: str, small_blocks: int, threads: str, codec: str, typecode: str,
    tmp_path: Path, flmfile: Any,
) -> None:
    itemsize = array.array(typecode).itemsize
    model = toy.model(size=100, weights=100_003 // itemsize, typecode=typecode)
    path = tmp_path / "m.flm"
    loaded, _ = _round_trip(model, path, codec)
    assert loaded == model
    (model_section,) = [s for s in flmfile.walk(path.read_bytes()).sections]
    shuffled = [b for b in model_section.blocks if b.filter == FILTER_SHUFFLE]
    if codec == "none":  # shuffling only helps a compressor
        assert not shuffled
        return
    assert shuffled and all(b.itemsize == itemsize for b in shuffled)
    assert sum(b.raw_size for b in shuffled) == len(model.weights) * itemsize


def test_typed_buffers_from_4_kib_after_other_bytes_get_a_shuffled_block(
    toy: Any, tmp_path: Path, flmfile: Any,
) -> None:
    model = toy.model(size=10, weights=2000)  # 8,000 bytes of float32 after 10 plain bytes
    loaded, _ = _round_trip(model, tmp_path / "m.flm", "zstd")
    assert loaded == model
    blocks = flmfile.walk((tmp_path / "m.flm").read_bytes()).sections[0].blocks
    assert [(b.filter, b.itemsize) for b in blocks][-1] == (FILTER_SHUFFLE, 4)


def test_small_typed_buffers_after_other_bytes_are_not_shuffled(
    toy: Any, tmp_path: Path, flmfile: Any,
) -> None:
    model = toy.model(size=10, weights=100)  # 400 bytes of float32
    loaded, _ = _round_trip(model, tmp_path / "m.flm", "zstd")
    assert loaded == model
    blocks = flmfile.walk((tmp_path / "m.flm").read_bytes()).sections[0].blocks
    assert [b.filter for b in blocks] == [0]


@pytest.mark.parametrize("writer, reader", [("numpy", "pure-python"), ("pure-python", "numpy")])
def test_shuffled_files_read_the_same_with_and_without_numpy(
    toy: Any, monkeypatch: pytest.MonkeyPatch, writer: str, reader: str, tmp_path: Path,
) -> None:
    pytest.importorskip("numpy")
    model = toy.model(size=10, weights=40_000, typecode="d")

    def use(impl: str) -> pytest.MonkeyPatch:
        filters._numpy.cache_clear()
        patch = pytest.MonkeyPatch()
        if impl == "pure-python":
            patch.setattr(filters, "_numpy", lambda: None)
        assert (filters._numpy() is None) == (impl == "pure-python")
        return patch

    patch = use(writer)
    try:
        flm_core.dump(model, tmp_path / "m.flm")
    finally:
        patch.undo()
    patch = use(reader)
    try:
        with flm_core.load(tmp_path / "m.flm") as loaded:
            assert loaded.model == model
    finally:
        patch.undo()


@pytest.mark.parametrize("itemsize", [2, 4, 8])
def test_pure_python_and_numpy_shuffles_agree_and_invert(
    itemsize: int, monkeypatch: pytest.MonkeyPatch,
) -> None:
    np = pytest.importorskip("numpy")
    data = memoryview(random.Random(itemsize).randbytes(itemsize * 1001))
    by_numpy = filters.shuffle(data, itemsize)
    assert by_numpy == bytes(np.frombuffer(data, np.uint8).reshape(-1, itemsize).T.tobytes())
    monkeypatch.setattr(filters, "_numpy", lambda: None)
    assert filters.shuffle(data, itemsize) == by_numpy
    assert bytes(filters.unshuffle(by_numpy, itemsize)) == bytes(data)
    assert by_numpy[:1001] == bytes(data[0::itemsize])  # first plane is every item's byte 0


# --------------------------------------------------------------------------- zstd backends


class _Spy:
    """Wrap a module, counting calls of the named callables."""

    def __init__(self, name: str, module: types.ModuleType, wrap: tuple[str, ...]) -> None:
        self.calls: Counter[str] = Counter()
        self.module = types.ModuleType(name)
        for attr in dir(module):
            if not attr.startswith("__"):
                setattr(self.module, attr, getattr(module, attr))
        for attr in wrap:
            setattr(self.module, attr, self._counting(attr, getattr(module, attr)))

    def _counting(self, name: str, func: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return func(*args, **kwargs)

        return call


def _use_zstd_backend(monkeypatch: pytest.MonkeyPatch, backend: str) -> _Spy:
    codecs.zstd_backend.cache_clear()
    if backend == "compression.zstd":
        try:
            from compression import zstd  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            zstd = pytest.importorskip("backports.zstd")
        spy = _Spy("compression.zstd", zstd, ("compress", "ZstdDecompressor"))
        package = types.ModuleType("compression")
        package.zstd = spy.module  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "compression", package)
        monkeypatch.setitem(sys.modules, "compression.zstd", spy.module)
    else:
        zstandard = pytest.importorskip("zstandard")
        spy = _Spy("zstandard", zstandard, ("ZstdCompressor", "ZstdDecompressor"))
        monkeypatch.setitem(sys.modules, "compression", None)
        monkeypatch.setitem(sys.modules, "compression.zstd", None)
        monkeypatch.setitem(sys.modules, "zstandard", spy.module)
    return spy


BACKENDS = ["zstandard", "compression.zstd"]


@pytest.mark.parametrize("reader", BACKENDS)
@pytest.mark.parametrize("writer", BACKENDS)
def test_zstd_files_are_readable_across_backends(
    toy: Any, monkeypatch: pytest.MonkeyPatch, writer: str, reader: str, tmp_path: Path,
) -> None:
    model = toy.model(size=50_000, weights=30_000)
    path = tmp_path / "m.flm"
    wspy = _use_zstd_backend(monkeypatch, writer)
    flm_core.dump(model, path, compression="zstd")
    assert codecs.zstd_backend()[0] == writer
    assert wspy.calls["compress" if writer == "compression.zstd" else "ZstdCompressor"] > 0

    rspy = _use_zstd_backend(monkeypatch, reader)
    with flm_core.load(path) as loaded:
        assert loaded.model == model
    assert codecs.zstd_backend()[0] == reader
    assert rspy.calls["ZstdDecompressor"] > 0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("claimed", [0, 1, 999, 1001, 5000])
def test_zstd_rejects_a_frame_whose_size_disagrees_with_its_block_header(
    monkeypatch: pytest.MonkeyPatch, backend: str, claimed: int,
) -> None:
    _use_zstd_backend(monkeypatch, backend)
    frame = codecs._zstd_compress(memoryview(bytes(1000)))
    zstd = Registry.current().codec("zstd")
    with pytest.raises(flm_core.FormatError):
        blocks.decode(zstd, *_block_parts(claimed, frame), "test")
    out = bytearray(claimed)  # the direct path: straight into a reader's buffer of that size
    with pytest.raises(flm_core.FormatError):
        blocks.decode_into(zstd, *_block_parts(claimed, frame), "test", memoryview(out))


def _block_parts(raw_size: int, stored: bytes) -> tuple[bytes, bytes, bytes]:
    from flm_core.container.layout import BLOCK, CRC, crc32

    head = BLOCK.pack(raw_size, len(stored), 0, 1, 0)
    return head, stored, CRC.pack(crc32(head, stored))


# --------------------------------------------------------------------------- pluggable codecs


def test_dump_rejects_an_unknown_codec_listing_the_valid_ones(toy: Any, tmp_path: Path) -> None:
    with pytest.raises(flm_core.UnknownCodecError) as info:
        flm_core.dump(toy.model(), tmp_path / "m.flm", compression="snappy")
    assert "snappy" in str(info.value)
    for name in CODECS:
        assert name in str(info.value)
    assert not (tmp_path / "m.flm").exists()


def test_third_party_codec_round_trips(
    toy: Any, register: Any, tmp_path: Path, flmfile: Any,
) -> None:
    register(toy.CodecPlugin(), name="flm-rev")
    model = toy.model(size=300, weights=4)
    path = tmp_path / "m.flm"
    loaded, meta = _round_trip(model, path, "rev")
    assert loaded == model
    assert meta.format.codec == "rev"
    data = path.read_bytes()
    (block,) = flmfile.walk(data).sections[0].blocks
    stored = data[block.offset + 12 : block.offset + 12 + block.stored_size]
    assert model.blob[::-1] in stored  # the plugin's compress really ran


def test_load_of_a_file_using_an_uninstalled_codec_names_the_codec(
    toy: Any, register: Any, tmp_path: Path,
) -> None:
    rev = register(toy.CodecPlugin(), name="flm-rev")
    path = tmp_path / "m.flm"
    flm_core.dump(toy.model(), path, compression="rev")
    flm_core.plugins.get_plugin_manager().unregister(rev)

    assert flm_core.read_meta(path).format.codec == "rev"  # the head needs no codec
    with pytest.raises(flm_core.UnknownCodecError, match="'rev'"):
        flm_core.load(path)
    with pytest.raises(flm_core.UnknownCodecError, match="'rev'"):
        flm_core.verify(path)


def test_a_plugin_codec_cannot_shadow_a_builtin_one(toy: Any, register: Any) -> None:
    fake = flm_core.Codec("zstd", zlib.compress, lambda data, size: zlib.decompress(data))
    register(toy.CodecPlugin(fake), name="flm-fake-zstd")
    with pytest.raises(flm_core.PluginConflictError) as info:
        Registry.current()
    assert "flm-core" in str(info.value) and "flm-fake-zstd" in str(info.value)


# --------------------------------------------------------------------------- bomb guard

BOMB = bytes(8 * 1024 * 1024)


def _bomb_file(flmfile: Any, codec: str, claimed: int) -> bytes:
    if codec == "lzma":  # a small dictionary: the decoder allocates the encoder's dict size
        stored = lzma.compress(BOMB, format=lzma.FORMAT_XZ, check=lzma.CHECK_NONE, preset=0)
    else:
        stored = bytes(Registry.current().codec(codec).compress(memoryview(BOMB)))
    return (flmfile.header(flmfile.metadata(codec=codec))
            + flmfile.section("model", codec, "", [flmfile.block(claimed, stored)])
            + flmfile.tail([]))


@pytest.mark.parametrize("claimed", [0, 1024], ids=["claims-0", "claims-1KiB"])
@pytest.mark.parametrize("codec", ["zstd", "zlib", "bz2", "lzma"])
def test_block_inflating_past_its_declared_size_is_rejected_without_inflating_it(
    toy: Any, flmfile: Any, codec: str, claimed: int,
) -> None:
    data = _bomb_file(flmfile, codec, claimed)
    assert len(data) < len(BOMB) // 100
    for action in (flm_core.verify, flm_core.load):
        tracemalloc.start()
        try:
            with pytest.raises(flm_core.FormatError):
                action(io.BytesIO(data))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < len(BOMB) // 4, f"{action.__name__} allocated {peak} bytes"


@pytest.mark.parametrize("codec", CODECS)
def test_block_decoding_to_fewer_bytes_than_declared_is_rejected(
    flmfile: Any, codec: str,
) -> None:
    stored = bytes(Registry.current().codec(codec).compress(memoryview(b"x" * 100)))
    data = (flmfile.header(flmfile.metadata(codec=codec))
            + flmfile.section("model", codec, "", [flmfile.block(101, stored)])
            + flmfile.tail([]))
    with pytest.raises(flm_core.FormatError, match=r"size|longer|frame"):
        flm_core.verify(io.BytesIO(data))
