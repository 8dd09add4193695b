"""Hostile files, correctly checksummed: each is refused with an FLMError, within the limits,
and leaves nothing behind. Every case here got past the reader before limits and schemas."""

from __future__ import annotations

import bz2
import io
import json
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import pytest

import flm_core
from flm_core import Limits
from flm_core.container.layout import CRC, TRAILER

MIB = 1 << 20


def _head_with(flmfile: Any, data: bytes, edit: Any) -> bytes:
    """``data`` with its metadata JSON replaced by ``edit(metadata)``, crcs recomputed."""
    walk = flmfile.walk(data)
    meta = edit(walk.meta)
    body = meta if isinstance(meta, bytes) else json.dumps(meta).encode()
    return flmfile.header(body) + data[walk.sections[0].offset :]


def _trailer_with(flmfile: Any, data: bytes, body: bytes) -> bytes:
    walk = flmfile.walk(data)
    from flm_core.container.layout import END, END_MAGIC, TRAILER_TAG, crc32

    tag = TRAILER.pack(TRAILER_TAG, len(body))
    return (data[: walk.trailer_offset] + tag + body + CRC.pack(crc32(tag, body))
            + END.pack(len(body), END_MAGIC))


def _all_refuse(data: bytes, error: type[Exception] = flm_core.FormatError,
                match: str | None = None, **limits: Any) -> None:
    """read_meta, verify and load each raise ``error`` (an FLMError), nothing else."""
    options = {"limits": Limits(**limits)} if limits else {}
    for call in (flm_core.read_meta, flm_core.verify, flm_core.load):
        with pytest.raises(error, match=match):
            result = call(io.BytesIO(data), **options)  # type: ignore[operator]
            if isinstance(result, flm_core.ModelArtifact):
                result.close()


def _nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


def _with_nested(meta: dict[str, Any], depth: int) -> bytes:
    """``meta`` with ``extra.x`` nested ``depth`` arrays deep, written without recursing."""
    text = json.dumps({**meta, "extra": {"x": "@NEST@"}})
    return text.replace('"@NEST@"', "[" * depth + "0" + "]" * depth).encode()


# --------------------------------------------------------------------------- metadata JSON


@pytest.mark.parametrize("depth", [65, 10_000, 200_000])
def test_deeply_nested_metadata_is_refused_without_recursion(
    small_file: Path, flmfile: Any, depth: int,
) -> None:
    nested = _head_with(flmfile, small_file.read_bytes(), lambda meta: _with_nested(meta, depth))
    _all_refuse(nested, flm_core.LimitError, match="nests deeper")


def test_nesting_within_the_limit_is_read(small_file: Path, flmfile: Any) -> None:
    nested = _head_with(flmfile, small_file.read_bytes(),
                        lambda meta: {**meta, "extra": {"x": _nested(50)}})
    assert flm_core.read_meta(io.BytesIO(nested)).extra["x"] == _nested(50)
    with pytest.raises(flm_core.LimitError):
        flm_core.read_meta(io.BytesIO(nested), limits=Limits(max_depth=20))


@pytest.mark.parametrize(("edit", "field"), [
    (lambda m: {**m, "framework": {"lib": ["toy"], "version": "1"}}, "framework.lib"),
    (lambda m: {**m, "framework": {"lib": "toy", "version": 1.2}}, "framework.version"),
    (lambda m: {**m, "framework": "toy"}, "framework"),
    (lambda m: {**m, "extra": ["not", "an", "object"]}, "extra"),
    (lambda m: {**m, "model": {**m["model"], "params": None}}, "model.params"),
    (lambda m: {**m, "format": {**m["format"], "version": True}}, "format.version"),
    (lambda m: {**m, "format": {**m["format"], "artifacts": [1]}}, "artifacts"),
    (lambda m: {**m, "plugin": {"distribution": "flm-toy"}}, "plugin"),
    (lambda m: {**m, "run_on_load": "os.system"}, "unknown field"),
    (lambda m: {**m, "framework": {**m["framework"], "entry": "x"}}, "unknown field"),
    (lambda m: [m], "object"),
])
def test_metadata_of_the_wrong_shape_names_the_field(
    small_file: Path, flmfile: Any, edit: Any, field: str,
) -> None:
    _all_refuse(_head_with(flmfile, small_file.read_bytes(), edit), flm_core.FormatError,
                match=field)


def test_oversized_metadata_is_refused_before_it_is_read(small_file: Path) -> None:
    _all_refuse(small_file.read_bytes(), flm_core.LimitError, match="metadata",
                max_metadata_bytes=64)


def test_a_file_listing_too_many_artifacts_is_refused_at_its_head(
    small_file: Path, flmfile: Any,
) -> None:
    names = [f"a{i}" for i in range(10_001)]
    many = _head_with(flmfile, small_file.read_bytes(),
                      lambda m: {**m, "format": {**m["format"], "artifacts": names}})
    _all_refuse(many, flm_core.LimitError, match="10001 artifacts")


# --------------------------------------------------------------------------- trailer JSON


@pytest.mark.parametrize(("body", "match"), [
    (b'{"sections": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nests deeper"),
    (b'{"sections": [{"kind": "model"}]}', "lacks"),
    (b'{"sections": 5}', "sections must be list"),
    (b'{"sections": [], "more": 1}', "unknown field"),
])
def test_a_trailer_of_the_wrong_shape_is_refused(
    small_file: Path, flmfile: Any, body: bytes, match: str,
) -> None:
    _all_refuse(_trailer_with(flmfile, small_file.read_bytes(), body), flm_core.FormatError,
                match=match)


def test_trailer_entries_are_type_checked(small_file: Path, flmfile: Any) -> None:
    data = small_file.read_bytes()
    sections = json.loads(data[flmfile.walk(data).trailer_offset + TRAILER.size :
                               len(data) - CRC.size - 12])["sections"]
    for key, value in [("offset", True), ("raw_size", -1), ("sha256", "ZZ" * 32),
                       ("kind", "program"), ("blocks", "3")]:
        bad = [dict(sections[0], **{key: value}), *sections[1:]]
        body = json.dumps({"sections": bad}).encode()
        with pytest.raises(flm_core.FormatError, match=key):
            flm_core.read_meta(io.BytesIO(_trailer_with(flmfile, data, body)))


# --------------------------------------------------------------------------- expansion


@pytest.mark.parametrize("codec", ["bz2", "zlib", "zstd"])
def test_a_decompression_bomb_is_refused_before_it_costs(
    small_file: Path, flmfile: Any, codec: str,
) -> None:
    """A few KB of identical blocks, each declaring 4 MiB of zeros: about 1 GiB in all."""
    zeros = bytes(4 * MIB)
    stored = {"bz2": lambda: bz2.compress(zeros, 9), "zlib": lambda: zlib.compress(zeros, 9),
              "zstd": lambda: __import__("zstandard").ZstdCompressor().compress(zeros)}[codec]()
    block = flmfile.block(len(zeros), stored)
    data = small_file.read_bytes()
    walk = flmfile.walk(data)
    bomb = (flmfile.header(json.dumps({**walk.meta, "format": {
        **walk.meta["format"], "codec": codec, "artifacts": []}}).encode())
        + flmfile.section("model", codec, "", [block] * 256) + flmfile.tail([]))
    assert len(bomb) < 256 * len(block) + 4096 < 2 * MIB
    started = time.perf_counter()
    for call in (flm_core.verify, flm_core.load):
        with pytest.raises(flm_core.LimitError, match="decompression bomb"):
            call(io.BytesIO(bomb))
    # 256 MiB may decode before the ratio trips (ratio_floor); bz2 does ~100 MB/s here
    assert time.perf_counter() - started < 60


def test_total_and_artifact_sizes_are_bounded(small_file: Path, toy: Any,
                                              tmp_path: Path) -> None:
    data = small_file.read_bytes()
    for call in (flm_core.verify, flm_core.load):  # read_meta decodes nothing
        with pytest.raises(flm_core.LimitError, match="max_total_bytes"):
            call(io.BytesIO(data), limits=Limits(max_total_bytes=64))
        with pytest.raises(flm_core.LimitError, match="max_artifact_bytes"):
            call(io.BytesIO(data), limits=Limits(max_artifact_bytes=4))
    with pytest.raises(flm_core.LimitError):
        flm_core.load(small_file, artifacts_dir=tmp_path / "out",
                      limits=Limits(max_artifact_bytes=4))
    assert not (tmp_path / "out").exists()


def test_the_default_limits_admit_real_models() -> None:
    limits = Limits()
    assert limits.max_total_bytes >= 1 << 40
    assert limits.max_artifact_bytes >= 64 << 30
    assert limits.ratio_floor >= 256 * MIB and limits.max_ratio >= 1000


# --------------------------------------------------------------------------- artifacts


def _forged_model_digest(data: bytes, flmfile: Any) -> bytes:
    walk = flmfile.walk(data)
    body_at = walk.trailer_offset + TRAILER.size
    sections = json.loads(data[body_at : len(data) - CRC.size - 12])["sections"]
    sections[-1]["sha256"] = "0" * 64
    return data[: walk.trailer_offset] + flmfile.tail(sections)


def test_a_rejected_file_leaves_the_callers_files_untouched_and_adds_none(
    small_file: Path, flmfile: Any, tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "foo.json").write_text("the caller's own file")
    forged = _forged_model_digest(small_file.read_bytes(), flmfile)
    with pytest.raises(flm_core.ChecksumError):
        flm_core.load(io.BytesIO(forged), artifacts_dir=out)
    assert [p.name for p in out.iterdir()] == ["foo.json"]
    assert (out / "foo.json").read_text() == "the caller's own file"


def test_a_rejected_file_removes_the_directories_load_made(
    small_file: Path, flmfile: Any, tmp_path: Path,
) -> None:
    forged = _forged_model_digest(small_file.read_bytes(), flmfile)
    with pytest.raises(flm_core.ChecksumError):
        flm_core.load(io.BytesIO(forged), artifacts_dir=tmp_path / "new" / "deeper")
    assert not (tmp_path / "new").exists()


def test_a_verified_file_moves_its_artifacts_into_place(
    small_file: Path, tmp_path: Path, artifact_file: Path,
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "foo.json").write_text("replaced by the file's own, once it verified")
    with flm_core.load(small_file, artifacts_dir=out) as loaded:
        assert loaded.artifacts == {"foo.json": out / "foo.json"}
    assert [p.name for p in out.iterdir()] == ["foo.json"]  # no staging directory left
    assert (out / "foo.json").read_bytes() == artifact_file.read_bytes()


# --------------------------------------------------------------------------- the command


def test_the_command_reports_a_hostile_file_in_one_line(
    small_file: Path, flmfile: Any, tmp_path: Path,
) -> None:
    nested = tmp_path / "nested.flm"
    nested.write_bytes(_head_with(flmfile, small_file.read_bytes(),
                                  lambda meta: _with_nested(meta, 100_000)))
    for command in ("inspect", "verify"):
        result = subprocess.run([sys.executable, "-m", "flm_core", command, str(nested)],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 1, result
        assert "Traceback" not in result.stderr
        assert "nests deeper" in result.stderr + result.stdout
