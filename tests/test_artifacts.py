"""Artifacts: names are single plain file names, checked at dump and again at load; files
unpack into a temporary directory that close() removes, or into the caller's directory."""

from __future__ import annotations

import gc
import io
import json
import tempfile
from pathlib import Path
from typing import Any

import attrs
import pytest

import flm_core
from flm_core import api

BAD_NAMES = ["../x", "a/b", "a\\b", "/abs", "C:evil", "..", ".", "", "nul\x00", "x" * 256,
             1, None, b"bytes", Path("p")]


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where tempfile puts the default artifact directories during the test."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_dump_rejects_a_bad_artifact_name_and_writes_nothing(
    toy: Any, tmp_path: Path, artifact_file: Path, name: Any,
) -> None:
    with pytest.raises(flm_core.ArtifactError):
        flm_core.dump(toy.model(), tmp_path / "m.flm", artifacts={name: artifact_file})
    assert not (tmp_path / "m.flm").exists()


@pytest.mark.parametrize("name", ["model.json", "weights.v2.bin", ".hidden", "ünïcode-名前.txt",
                                  "x" * 255, "with space", "a..b"])
def test_plain_file_names_are_accepted_and_round_trip(
    toy: Any, tmp_path: Path, artifact_file: Path, name: str,
) -> None:
    flm_core.dump(toy.model(), tmp_path / "m.flm", artifacts={name: artifact_file})
    with flm_core.load(tmp_path / "m.flm", artifacts_dir=tmp_path / "out") as loaded:
        assert loaded.artifacts == {name: tmp_path / "out" / name}
        assert (tmp_path / "out" / name).read_bytes() == artifact_file.read_bytes()


@pytest.mark.parametrize("missing", ["nope.json", "."], ids=["missing-file", "a-directory"])
def test_dump_rejects_an_artifact_that_is_not_a_readable_file(
    toy: Any, tmp_path: Path, missing: str,
) -> None:
    with pytest.raises(flm_core.ArtifactError, match=r"foo\.json"):
        flm_core.dump(toy.model(), tmp_path / "m.flm", artifacts={"foo.json": tmp_path / missing})
    assert not (tmp_path / "m.flm").exists()


def test_several_artifacts_of_any_size_round_trip_in_order(toy: Any, tmp_path: Path) -> None:
    files = {}
    for name, size in [("empty.bin", 0), ("small.txt", 5), ("big.bin", 5_000_000)]:
        files[name] = tmp_path / name
        files[name].write_bytes(bytes(i % 251 for i in range(size)) if size < 100 else
                                bytes(range(256)) * (size // 256))
    written = flm_core.dump(toy.model(), tmp_path / "m.flm", artifacts=files)
    assert [s.name for s in written.format.sections] == [*files, ""]
    with flm_core.load(tmp_path / "m.flm") as loaded:
        assert list(loaded.artifacts) == list(files)
        for name, source in files.items():
            assert loaded.artifacts[name].read_bytes() == source.read_bytes()


# --------------------------------------------------------------------------- where they go


def test_default_artifact_dir_is_a_temporary_dir_removed_by_close(
    small_file: Path, temp_root: Path,
) -> None:
    loaded = flm_core.load(small_file)
    path = loaded.artifacts["foo.json"]
    assert path.parent.parent == temp_root and path.parent.name.startswith("flm-artifacts-")
    assert path.read_text() == '{"labels": ["cat", "dog"]}'
    loaded.close()
    assert list(temp_root.iterdir()) == []
    loaded.close()  # idempotent


def test_default_artifact_dir_is_removed_by_leaving_a_with_block(
    small_file: Path, temp_root: Path,
) -> None:
    with flm_core.load(small_file) as loaded:
        assert loaded.artifacts["foo.json"].is_file()
    assert list(temp_root.iterdir()) == []


def test_default_artifact_dir_is_removed_when_the_artifact_is_collected(
    small_file: Path, temp_root: Path,
) -> None:
    loaded = flm_core.load(small_file)
    assert len(list(temp_root.iterdir())) == 1
    del loaded
    gc.collect()
    assert list(temp_root.iterdir()) == []


def test_a_caller_artifacts_dir_is_created_and_kept_after_close(
    small_file: Path, tmp_path: Path, temp_root: Path,
) -> None:
    target = tmp_path / "mine" / "nested"
    with flm_core.load(small_file, artifacts_dir=target) as loaded:
        assert loaded.artifacts == {"foo.json": target / "foo.json"}
    assert (target / "foo.json").read_text() == '{"labels": ["cat", "dog"]}'
    assert list(temp_root.iterdir()) == []


def test_a_failed_load_removes_the_default_artifact_dir(
    small_file: Path, temp_root: Path,
) -> None:
    data = bytearray(small_file.read_bytes())
    data[-30] ^= 1  # in the trailer: every artifact is unpacked before it is found
    with pytest.raises(flm_core.FormatError):
        flm_core.load(io.BytesIO(bytes(data)))
    assert list(temp_root.iterdir()) == []


# --------------------------------------------------------------------------- crafted names


@pytest.mark.parametrize("name", ["../evil.json", "/tmp/evil.json", "sub/evil.json", ".."])
def test_load_refuses_a_crafted_file_with_a_bad_artifact_name_writing_nothing_outside(
    toy: Any, tmp_path: Path, artifact_file: Path, temp_root: Path, name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with monkeypatch.context() as patch:  # craft: let dump through with the bad name
        patch.setattr(api, "check_artifact_name", lambda n: n)
        flm_core.dump(toy.model(), tmp_path / "m.flm", artifacts={name: artifact_file})
    assert name in flm_core.read_meta(tmp_path / "m.flm").format.artifacts
    before = sorted(p for p in tmp_path.rglob("*"))

    out = tmp_path / "a" / "out"
    with pytest.raises((flm_core.ArtifactError, flm_core.FormatError)):
        flm_core.load(tmp_path / "m.flm", artifacts_dir=out)
    with pytest.raises((flm_core.ArtifactError, flm_core.FormatError)):
        flm_core.load(tmp_path / "m.flm")
    assert sorted(p for p in tmp_path.rglob("*") if not p.is_relative_to(out.parent)) == before
    assert not out.exists() or list(out.iterdir()) == []
    assert list(temp_root.iterdir()) == []
    assert not Path("/tmp/evil.json").exists() or name != "/tmp/evil.json"


def test_load_refuses_an_artifact_section_the_metadata_does_not_list(
    toy: Any, flmfile: Any, small_file: Path, temp_root: Path,
) -> None:
    data = small_file.read_bytes()
    walk = flmfile.walk(data)
    meta = dict(walk.meta)
    meta["format"] = {**meta["format"], "artifacts": []}
    forged = flmfile.header(json.dumps(meta).encode()) + data[walk.sections[0].offset :]
    with pytest.raises(flm_core.FormatError, match=r"unexpected artifact section 'foo\.json'"):
        flm_core.load(io.BytesIO(forged))
    assert list(temp_root.iterdir()) == []


def test_load_refuses_a_file_missing_an_artifact_the_metadata_lists(
    toy: Any, flmfile: Any, small_file: Path,
) -> None:
    data = small_file.read_bytes()
    walk = flmfile.walk(data)
    meta = dict(walk.meta)
    meta["format"] = {**meta["format"], "artifacts": ["foo.json", "bar.json"]}
    head = flmfile.header(json.dumps(meta).encode())
    shift = len(head) - walk.sections[0].offset
    sections = [{**attrs.asdict(s), "offset": s.offset + shift}
                for s in flm_core.read_meta(small_file).format.sections]
    forged = head + data[walk.sections[0].offset : walk.trailer_offset] + flmfile.tail(sections)
    with pytest.raises(flm_core.FormatError, match="lacks"):
        flm_core.load(io.BytesIO(forged))
