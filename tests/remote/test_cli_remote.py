"""Every ``flm`` subcommand takes URLs, and ``--storage-option key=value`` (repeatable)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("s3fs", reason="the remote tests need the remote extra, s3fs and moto")
pytest.importorskip("moto.server", reason="the remote tests need moto[server]")

import flm_core
from flm_core.cli import main


def _flags(s3: Any) -> list[str]:
    return ["--storage-option", f"key={s3.key}", "--storage-option", f"secret={s3.secret}",
            "--storage-option", f"endpoint_url={s3.endpoint}",
            "--storage-option", "client_kwargs.region_name=us-east-1",
            "--storage-option", "skip_instance_cache:=true"]


@pytest.fixture
def stored(toy: Any, s3: Any, bucket: str, artifact_file: Path) -> tuple[str, flm_core.Metadata]:
    url = f"s3://{bucket}/cli/m.flm"
    meta = flm_core.dump(toy.model(size=5000), url, storage_options=s3.options(),
                         artifacts={"labels.json": artifact_file})
    return url, meta


def test_inspect_and_verify_take_a_url_and_storage_options(
    stored: tuple[str, flm_core.Metadata], s3: Any, capsys: pytest.CaptureFixture[str],
) -> None:
    url, meta = stored
    assert main(["inspect", url, "--json", *_flags(s3)]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == str(meta.id)
    assert main(["verify", url, *_flags(s3)]) == 0
    assert url in capsys.readouterr().out


def test_extract_and_recompress_read_and_write_urls(
    stored: tuple[str, flm_core.Metadata], s3: Any, bucket: str, tmp_path: Path,
    artifact_file: Path,
) -> None:
    url, meta = stored
    assert main(["extract", url, str(tmp_path / "out"), *_flags(s3)]) == 0
    assert (tmp_path / "out" / "labels.json").read_bytes() == artifact_file.read_bytes()
    target = f"s3://{bucket}/cli/m-lzma.flm"
    assert main(["recompress", url, target, "-c", "lzma", *_flags(s3)]) == 0
    again = flm_core.verify(target, storage_options=s3.options())
    assert again.model_digest == meta.model_digest and again.format.sections[0].codec == "lzma"


def test_a_cli_error_names_the_url_and_never_the_secret(
    stored: tuple[str, flm_core.Metadata], s3: Any, capsys: pytest.CaptureFixture[str],
) -> None:
    url, _ = stored
    flags = [f if "secret=" not in f else "secret=wRoNg/SeCrEt" for f in _flags(s3)]
    assert main(["inspect", url, *flags]) == 1
    err = capsys.readouterr().err
    assert url in err and "access denied" in err
    assert "wRoNg/SeCrEt" not in err and s3.secret not in err


def test_a_malformed_storage_option_is_a_usage_error(
    stored: tuple[str, flm_core.Metadata], capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["inspect", stored[0], "--storage-option", "no-equals-sign"]) == 1
    assert "KEY=VALUE" in capsys.readouterr().err
