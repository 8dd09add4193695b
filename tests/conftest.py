"""Shared fixtures: a fake ``toy`` framework plugin, plugin-manager hygiene, file helpers.

Tests use ``--import-mode=importlib``, so test modules cannot import each other or this
file; everything shared is handed out through fixtures (``toy``, ``register``, ``flmfile``).
"""

from __future__ import annotations

import array
import datetime
import json
import os
import struct
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import attrs
import pytest

import flm_core
from flm_core import api, codecs, plugins
from flm_core.container import filters
from flm_core.container.layout import (
    ARTIFACT_TAG,
    BLOCK,
    CRC,
    END,
    END_MAGIC,
    HEADER,
    MAGIC,
    MODEL_TAG,
    SECTION,
    SECTION_KINDS,
    TRAILER,
    TRAILER_TAG,
    VERSION,
    crc32,
)
from flm_core.meta import FormatInfo, FrameworkInfo, Metadata, ModelInfo, PluginInfo

FAKEDIST = Path(__file__).parent / "fakedist"
_CACHED = (codecs.zstd_backend, filters._numpy)  # the real cached functions, even if patched


# --------------------------------------------------------------------------- the toy plugin


@attrs.define(eq=True)
class Toy:
    """A model of the fake ``toy`` framework: some bytes and a typed array of weights.

    ``chunk`` is how many bytes of ``blob`` the serializer hands the sink per write (None:
    all at once), so tests can drive many tiny writes.
    """

    blob: bytes = b""
    weights: array.array = attrs.field(factory=lambda: array.array("f"))  # type: ignore[type-arg]
    chunk: int | None = attrs.field(default=None, eq=False)


class ToyPlugin:
    """Provides the ``toy`` serializer (distribution ``flm-toy``).

    Knobs tests turn: ``version`` (the "installed" toy version), ``fail_after`` (Payload.write
    raises ``fail_with`` after writing that many bytes), ``fail_in_dump`` (serializer.dump
    raises before writing anything), ``claims`` (the type ``can_serialize`` accepts).
    """

    def __init__(self, name: str = "toy", distribution: str = "flm-toy",
                 version: str = "1.2.0", claims: type = Toy) -> None:
        self.name, self.distribution, self.claims = name, distribution, claims
        self.version = version
        self.fail_after: int | None = None
        self.fail_with: BaseException = OSError("disk on fire")
        self.fail_in_dump = False
        self.dumps = self.loads = 0

    def _dump(self, model: Toy, *, note: str = "") -> flm_core.Payload:
        if self.fail_in_dump:
            raise RuntimeError("toy cannot serialize this model")
        self.dumps += 1
        header = json.dumps({"blob": len(model.blob), "typecode": model.weights.typecode,
                             "n": len(model.weights)}).encode() + b"\n"

        def write(sink: IO[bytes]) -> None:
            sink.write(header)
            if self.fail_after is not None:
                sink.write(b"x" * self.fail_after)
                raise self.fail_with
            step = model.chunk or max(len(model.blob), 1)
            for start in range(0, len(model.blob), step):
                sink.write(model.blob[start : start + step])
            sink.write(memoryview(model.weights))

        return flm_core.Payload(write=write, info={"blob": len(model.blob), "note": note},
                                obj="toy.Toy")

    def _load(self, stream: IO[bytes], meta: flm_core.Metadata, *, strict: bool = True) -> Toy:
        self.loads += 1
        header = json.loads(stream.readline())
        blob = stream.read(header["blob"])
        weights = array.array(header["typecode"])
        weights.frombytes(stream.read(header["n"] * weights.itemsize))
        if strict and stream.read(1):
            raise ValueError("trailing bytes in toy payload")
        return Toy(blob, weights)

    def serializer(self) -> flm_core.Serializer:
        return flm_core.Serializer(
            name=self.name,
            distribution=self.distribution,
            can_serialize=lambda obj: isinstance(obj, self.claims),
            framework_version=lambda: self.version,
            dump=self._dump,
            load=self._load,
            dump_options={"note"},
            load_options={"strict"},
        )

    @flm_core.hookimpl
    def flm_serializers(self) -> list[flm_core.Serializer]:
        return [self.serializer()]


class CodecPlugin:
    """A third-party codec plugin: ``rev`` stores each block reversed."""

    def __init__(self, codec: flm_core.Codec | None = None) -> None:
        self.codec = codec or flm_core.Codec(
            name="rev",
            compress=lambda block: bytes(block)[::-1],
            decompress=lambda data, raw_size: bytes(data)[::-1],
        )

    @flm_core.hookimpl
    def flm_codecs(self) -> list[flm_core.Codec]:
        return [self.codec]


@attrs.define
class ToyKit:
    """What the ``toy`` fixture yields: the registered plugin plus the classes tests need."""

    plugin: ToyPlugin
    Toy: type[Toy] = Toy
    ToyPlugin: type[ToyPlugin] = ToyPlugin
    CodecPlugin: type[CodecPlugin] = CodecPlugin

    def model(self, size: int = 1000, weights: int = 64, typecode: str = "f",
              chunk: int | None = None) -> Toy:
        blob = bytes((i * 7 + i // 251) % 256 for i in range(size))
        values = [i * 0.25 if typecode in "fd" else i - weights // 2 for i in range(weights)]
        return Toy(blob, array.array(typecode, values), chunk)


@pytest.fixture(autouse=True)
def _isolated_core(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts with a fresh plugin manager, backend caches and warning memory."""
    monkeypatch.delenv(plugins.DISABLE_ENV, raising=False)
    monkeypatch.delenv(api.THREADS_ENV, raising=False)
    monkeypatch.setattr(api, "_warned", set())
    plugins.reset_plugin_manager()
    for cached in _CACHED:
        cached.cache_clear()
    yield
    plugins.reset_plugin_manager()
    for cached in _CACHED:
        cached.cache_clear()


@pytest.fixture
def register() -> Iterator[Callable[..., Any]]:
    """``register(plugin, name=...)`` on the current manager; unregistered after the test."""
    done: list[tuple[Any, Any]] = []

    def _register(plugin: Any, name: str | None = None) -> Any:
        pm = plugins.get_plugin_manager()
        pm.register(plugin, name=name)
        done.append((pm, plugin))
        return plugin

    try:
        yield _register
    finally:
        for pm, plugin in reversed(done):
            if pm.is_registered(plugin):
                pm.unregister(plugin)
        plugins.reset_plugin_manager()


@pytest.fixture
def toy(register: Callable[..., Any]) -> ToyKit:
    """The fake ``toy`` plugin, registered as ``flm-toy``."""
    plugin = ToyPlugin()
    register(plugin, name="flm-toy")
    return ToyKit(plugin)


@pytest.fixture
def artifact_file(tmp_path: Path) -> Path:
    path = tmp_path / "labels.json"
    path.write_text('{"labels": ["cat", "dog"]}')
    return path


@pytest.fixture
def small_file(toy: ToyKit, tmp_path: Path, artifact_file: Path) -> Path:
    """A small real file: toy model (bytes + float32 weights) plus one artifact."""
    path = tmp_path / "small.flm"
    flm_core.dump(toy.model(size=40, weights=6), path, compression="zlib",
                  model_id="12345678-1234-5678-1234-567812345678",
                  timestamp=datetime.datetime(2023, 3, 10, 11, 30),
                  artifacts={"foo.json": artifact_file})
    return path


# --------------------------------------------------------------------------- file helpers


@attrs.define
class Block:
    offset: int  # of the block header
    raw_size: int
    stored_size: int
    filter: int
    itemsize: int

    @property
    def end(self) -> int:  # first byte after its crc
        return self.offset + BLOCK.size + self.stored_size + CRC.size


@attrs.define
class Section:
    kind: str
    codec: str
    name: str
    offset: int  # of the section header
    blocks: list[Block]
    end: int  # first byte after the end block's crc


@attrs.define
class Walk:
    version: int
    meta: dict[str, Any]
    sections: list[Section]
    trailer_offset: int
    size: int


class FlmFile:
    """Parse and build FLM bytes independently of the reader, to craft damaged files."""

    @staticmethod
    def walk(data: bytes) -> Walk:
        magic, version, _, meta_len = HEADER.unpack_from(data, 0)
        assert magic == MAGIC
        pos = HEADER.size + CRC.size
        meta = json.loads(data[pos : pos + meta_len])
        pos += meta_len + CRC.size
        sections = []
        while data[pos : pos + 4] != TRAILER_TAG:
            tag, codec_len, name_len = SECTION.unpack_from(data, pos)
            start = pos
            pos += SECTION.size
            codec = data[pos : pos + codec_len].decode()
            name = data[pos + codec_len : pos + codec_len + name_len].decode()
            pos += codec_len + name_len + CRC.size
            blocks = []
            while True:
                raw, stored, filt, itemsize, _ = BLOCK.unpack_from(data, pos)
                if raw == stored == 0:
                    pos += BLOCK.size + CRC.size
                    break
                blocks.append(Block(pos, raw, stored, filt, itemsize))
                pos = blocks[-1].end
            sections.append(Section(SECTION_KINDS[tag], codec, name, start, blocks, pos))
        return Walk(version, meta, sections, pos, len(data))

    @staticmethod
    def header(meta: bytes, version: int = VERSION, flags: int = 0) -> bytes:
        header = HEADER.pack(MAGIC, version, flags, len(meta))
        return header + CRC.pack(crc32(header)) + meta + CRC.pack(crc32(meta))

    @staticmethod
    def section(kind: str, codec: str, name: str, blocks: list[bytes]) -> bytes:
        tag = MODEL_TAG if kind == "model" else ARTIFACT_TAG
        head = SECTION.pack(tag, len(codec), len(name.encode())) + codec.encode() + name.encode()
        end = BLOCK.pack(0, 0, 0, 0, 0)
        return head + CRC.pack(crc32(head)) + b"".join(blocks) + end + CRC.pack(crc32(end))

    @staticmethod
    def block(raw_size: int, stored: bytes, filter_id: int = 0, itemsize: int = 1) -> bytes:
        head = BLOCK.pack(raw_size, len(stored), filter_id, itemsize, 0)
        return head + stored + CRC.pack(crc32(head, stored))

    @staticmethod
    def tail(sections: list[dict[str, Any]]) -> bytes:
        body = json.dumps({"sections": sections}).encode()
        tag = TRAILER.pack(TRAILER_TAG, len(body))
        return tag + body + CRC.pack(crc32(tag, body)) + END.pack(len(body), END_MAGIC)

    @staticmethod
    def metadata(artifacts: tuple[str, ...] = (), codec: str = "zlib", lib: str = "toy",
                 version: str = "1.2.0", distribution: str = "flm-toy") -> bytes:
        meta = Metadata(
            id=uuid.UUID(int=1), timestamp=datetime.datetime(2023, 3, 10, 11, 30),
            framework=FrameworkInfo(lib, version), model=ModelInfo(obj="toy.Toy"),
            plugin=PluginInfo(distribution, "0"),
            format=FormatInfo(version=1, codec=codec, artifacts=artifacts),
        )
        return json.dumps(meta.to_dict()).encode()

    @staticmethod
    def u32(value: int) -> bytes:
        return struct.pack("<I", value)


@pytest.fixture
def flmfile() -> type[FlmFile]:
    return FlmFile


def pytest_report_header() -> str:
    return f"flm_core from {os.path.dirname(flm_core.__file__)}"
