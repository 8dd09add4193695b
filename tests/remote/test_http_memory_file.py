"""http(s):// for reading (a loopback server honouring Range), memory:// and file://."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fsspec", reason="the remote tests need the remote extra (fsspec)")
pytest.importorskip("aiohttp", reason="http:// needs aiohttp")

import fsspec

import flm_core

MB = 1024 * 1024


def test_http_load_read_meta_and_verify(toy: Any, http_files: Any,
                                        artifact_file: Path) -> None:
    model = toy.Toy(os.urandom(MB) * 20, toy.model(weights=1000).weights)
    written = flm_core.dump(model, http_files.root / "m.flm", compression="none",
                            artifacts={"labels.json": artifact_file})
    url = f"{http_files.url}/m.flm"
    with flm_core.load(url) as artifact:
        assert artifact.model == model
        assert artifact.artifacts["labels.json"].read_bytes() == artifact_file.read_bytes()
    assert flm_core.verify(url) == written
    http_files.reset()
    assert flm_core.read_meta(url) == written
    assert 0 < http_files.sent < 64 * 1024


def test_http_is_read_only_and_a_missing_file_is_a_clear_error(toy: Any,
                                                               http_files: Any) -> None:
    with pytest.raises(flm_core.RemoteError, match="cannot start writing to http://"):
        flm_core.dump(toy.model(), f"{http_files.url}/new.flm")
    with pytest.raises(flm_core.RemoteError, match="no such object") as error:
        flm_core.load(f"{http_files.url}/absent.flm?token=s3cr3t-t0ken")
    assert "s3cr3t-t0ken" not in str(error.value)


def test_memory_round_trip(toy: Any) -> None:
    url = "memory://flm-tests/round-trip.flm"
    model = toy.model(size=100_000)
    written = flm_core.dump(model, url, compression="lzma")
    with flm_core.load(url) as artifact:
        assert artifact.model == model
    assert flm_core.read_meta(url) == flm_core.verify(url) == written


def test_memory_dump_failing_midway_keeps_the_previous_object_and_no_temporary(
    toy: Any,
) -> None:
    fs = fsspec.filesystem("memory")
    url = "memory://flm-atomic/m.flm"
    flm_core.dump(toy.model(size=10), url)
    before = fs.cat(url)
    toy.plugin.fail_after = 5 * MB
    with pytest.raises(OSError, match="disk on fire"):
        flm_core.dump(toy.model(), url)
    assert fs.cat(url) == before
    assert fs.ls("/flm-atomic", detail=False) == ["/flm-atomic/m.flm"]


def test_file_urls_take_the_atomic_local_path(toy: Any, tmp_path: Path) -> None:
    url = (tmp_path / "m.flm").as_uri()
    model = toy.model()
    flm_core.dump(model, url)
    with flm_core.load(url) as artifact:
        assert artifact.model == model
    toy.plugin.fail_after = 5 * MB
    with pytest.raises(OSError, match="disk on fire"):
        flm_core.dump(toy.model(size=5), url)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.flm"]
    assert flm_core.read_meta(url) == flm_core.read_meta(tmp_path / "m.flm")


def test_an_unknown_scheme_is_a_clear_error() -> None:
    with pytest.raises(flm_core.RemoteError, match=r"nosuchproto://bucket/m\.flm"):
        flm_core.read_meta("nosuchproto://bucket/m.flm")


def test_serve_names_a_url_that_failed_without_its_credentials(http_files: Any) -> None:
    from flm_core.serve.models import ServeError, load_models

    url = http_files.url.replace("http://", "http://user:hunter2@") + "/absent.flm?sig=abc123"
    with pytest.raises(ServeError) as error:
        load_models([f"m={url}"])
    assert "absent.flm" in str(error.value)
    assert "hunter2" not in str(error.value) and "abc123" not in str(error.value)
