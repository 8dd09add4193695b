"""Without the ``remote`` extra: plain paths work, a URL says what to install."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

import flm_core

EXTRA = 'pip install "flm-core[remote]"'


@pytest.fixture
def no_fsspec(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "fsspec" or m.startswith("fsspec.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "fsspec", None)  # import fsspec now raises ImportError


@pytest.mark.usefixtures("no_fsspec")
@pytest.mark.parametrize("call", ["load", "read_meta", "verify"])
def test_a_url_without_fsspec_names_the_extra(call: str) -> None:
    with pytest.raises(flm_core.RemoteError, match=r"s3://bucket/m\.flm") as error:
        getattr(flm_core, call)("s3://user:hunter2@bucket/m.flm?sig=abc123")
    assert EXTRA in str(error.value)
    assert "hunter2" not in str(error.value) and "abc123" not in str(error.value)


@pytest.mark.usefixtures("no_fsspec")
def test_dump_to_a_url_without_fsspec_names_the_extra(toy: Any) -> None:
    with pytest.raises(flm_core.RemoteError, match=EXTRA.replace("[", r"\[").replace("]", r"\]")):
        flm_core.dump(toy.model(), "gs://bucket/m.flm")


@pytest.mark.usefixtures("no_fsspec")
def test_plain_paths_need_no_fsspec(toy: Any, tmp_path: Path) -> None:
    path = tmp_path / "m.flm"
    flm_core.dump(toy.model(), str(path), storage_options={"anon": True})
    with flm_core.load(str(path)) as artifact:
        assert artifact.model == toy.model()
    assert flm_core.read_meta(path) == flm_core.verify(path)


def test_remote_error_is_an_flm_error_and_an_os_error() -> None:
    assert issubclass(flm_core.RemoteError, flm_core.FLMError)
    assert issubclass(flm_core.RemoteError, OSError)


@pytest.mark.usefixtures("no_fsspec")
def test_flm_names_the_extra_for_a_url_and_never_echoes_credentials(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from flm_core.cli import main

    url = "https://user:hunter2@example.invalid/m.flm?sig=abc123"
    assert main(["inspect", url, "--storage-option", "password=s3cr3t"]) == 1
    err = capsys.readouterr().err
    assert EXTRA in err and "https://example.invalid/m.flm" in err
    assert "hunter2" not in err and "abc123" not in err and "s3cr3t" not in err


@pytest.mark.parametrize(("flags", "options"), [
    (["a=1", "b:=1", "c:=true", "client_kwargs.region_name=eu-west-1"],
     {"a": "1", "b": 1, "c": True, "client_kwargs": {"region_name": "eu-west-1"}}),
    ([], {}),
])
def test_storage_options_from_the_command_line(flags: list[str], options: Any) -> None:
    from flm_core.cli.files import storage_options

    assert storage_options(flags) == options


@pytest.mark.parametrize("flag", ["no-equals-sign-s3cr3t", "=s3cr3t", "bad:=s3cr3t"])
def test_a_malformed_storage_option_is_refused_without_its_value(
    flag: str, capsys: pytest.CaptureFixture[str], small_file: Path,
) -> None:
    from flm_core.cli import main

    assert main(["inspect", str(small_file), "--storage-option", flag]) == 1
    err = capsys.readouterr().err
    assert "--storage-option" in err and "takes" in err and "s3cr3t" not in err


@pytest.mark.parametrize("command", [
    ["inspect", "s3://b/m.flm"], ["verify", "s3://b/m.flm", "s3://b/n.flm"],
    ["extract", "s3://b/m.flm", "out"], ["recompress", "s3://b/m.flm", "s3://b/n.flm"],
    ["predict", "s3://b/m.flm", "-i", "x.json"], ["serve", "m=s3://b/m.flm"],
])
def test_every_command_reading_a_file_takes_storage_options(command: list[str]) -> None:
    from flm_core.cli.parser import build_parser

    args = build_parser().parse_args([*command, "--storage-option", "anon:=true",
                                      "--storage-option", "endpoint_url=http://x"])
    assert args.storage_option == ["anon:=true", "endpoint_url=http://x"]
