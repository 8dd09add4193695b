"""flm_core.recompress: another codec, the same raw bytes, no plugin, nothing left on failure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import flm_core
from flm_core import plugins
from flm_core.recompress import recompress


@pytest.mark.parametrize("codec", ["lzma", "none", "zstd"])
def test_recompress_keeps_every_digest_and_the_metadata(
    toy: Any, tmp_path: Path, artifact_file: Path, codec: str,
) -> None:
    source = tmp_path / "in.flm"
    model = toy.model(size=300_000, weights=200_000)  # several blocks, shuffled weights
    written = flm_core.dump(model, source, compression="zlib", params={"lr": 0.1},
                            artifacts={"foo.json": artifact_file})
    out = recompress(source, tmp_path / "out.flm", compression=codec)
    checked = flm_core.verify(tmp_path / "out.flm")
    assert checked == out
    assert out.format.codec == codec and {s.codec for s in out.format.sections} == {codec}
    assert [s.sha256 for s in out.format.sections] == [s.sha256 for s in written.format.sections]
    assert out.model_digest == written.model_digest
    assert out.model == written.model and out.id == written.id and out.extra == written.extra
    with flm_core.load(tmp_path / "out.flm") as artifact:
        assert artifact.model == model


def test_recompress_keeps_the_shuffle_filter(toy: Any, tmp_path: Path, flmfile: Any) -> None:
    source = tmp_path / "in.flm"
    flm_core.dump(toy.model(size=10, weights=100_000), source, compression="zlib")
    recompress(source, tmp_path / "out.flm", compression="zstd")
    walk = flmfile.walk((tmp_path / "out.flm").read_bytes())
    assert {b.itemsize for b in walk.sections[-1].blocks} == {1, 4}


def test_recompress_needs_no_plugin_for_a_built_in_codec(
    small_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    plugins.reset_plugin_manager()
    monkeypatch.setattr(plugins, "build_plugin_manager", None)  # any discovery would fail
    out = recompress(small_file, tmp_path / "out.flm", compression="bz2")
    assert out.framework.lib == "toy"


def test_a_damaged_source_leaves_no_target(small_file: Path, tmp_path: Path) -> None:
    data = bytearray(small_file.read_bytes())
    data[-30] ^= 1  # the trailer: found only after every section was copied
    small_file.write_bytes(bytes(data))
    with pytest.raises(flm_core.ChecksumError):
        recompress(small_file, tmp_path / "out.flm")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.json", "small.flm"]


def test_an_unknown_codec_fails_before_writing(small_file: Path, tmp_path: Path) -> None:
    with pytest.raises(flm_core.UnknownCodecError, match="'brotli'"):
        recompress(small_file, tmp_path / "out.flm", compression="brotli")
    assert not (tmp_path / "out.flm").exists()
