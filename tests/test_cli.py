"""The ``flm`` command: metadata as JSON, verification, plugin listing, clean errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flm_core.cli import main


def test_meta_prints_the_metadata_as_json(
    small_file: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["meta", str(small_file)]) == 0
    meta = json.loads(capsys.readouterr().out)
    assert meta["id"] == "12345678-1234-5678-1234-567812345678"
    assert meta["framework"]["lib"] == "toy"
    assert [s["kind"] for s in meta["format"]["sections"]] == ["artifact", "model"]


def test_verify_reports_the_model_digest(toy: object, small_file: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(small_file)]) == 0
    assert "ok:" in capsys.readouterr().out


def test_a_damaged_file_exits_1_with_one_line_on_stderr(
    small_file: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    data = bytearray(small_file.read_bytes())
    data[len(data) // 2] ^= 1
    small_file.write_bytes(bytes(data))
    assert main(["verify", str(small_file)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("flm: error:") and err.count("\n") == 1


def test_a_missing_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["meta", str(tmp_path / "nope.flm")]) == 1
    assert "flm: error:" in capsys.readouterr().err


def test_plugins_lists_builtin_codecs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {"zstd", "zlib", "bz2", "lzma", "none"} <= set(listed["codecs"])
    assert listed["codecs"]["zstd"] == "flm-core"


def test_the_console_script_runs_as_a_module(small_file: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "flm_core.cli", "meta", str(small_file)],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["format"]["version"] == 1
