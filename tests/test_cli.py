"""The ``flm`` command as a user runs it: a subprocess, its output, its exit status."""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import flm_core

TESTS = Path(__file__).parent
HEAVY = ("torch", "tensorflow", "sklearn", "numpy", "keras", "fsspec", "tqdm", "rich",
         "starlette", "uvicorn", "fastapi")


def flm(*args: str, stdin: bytes | None = None, env: dict[str, str] | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``flm ARGS`` in a fresh process (``python -m flm_core``, this interpreter)."""
    proc = subprocess.run([sys.executable, "-m", "flm_core", *args], input=stdin,
                          capture_output=True, timeout=120, env={**os.environ, **(env or {})},
                          cwd=cwd)
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(),
                                       proc.stderr.decode())


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 1
    path.write_bytes(bytes(data))


# --------------------------------------------------------------------------------- inspect


def test_inspect_shows_the_metadata_as_a_tree(toy: Any, tmp_path: Path,
                                              artifact_file: Path) -> None:
    path = tmp_path / "m.flm"
    meta = flm_core.dump(toy.model(), path, model_id="12345678-1234-5678-1234-567812345678",
                         timestamp=datetime.datetime(2023, 3, 10, 11, 30), note="xor",
                         params={"optimizer": "adams"}, metrics={"recall": "0.95"},
                         extra={"tags": ["test"]}, artifacts={"foo.json": artifact_file})
    out = flm("inspect", str(path))
    assert out.returncode == 0 and out.stderr == ""
    lines = out.stdout.splitlines()
    assert lines[0] == f"file        {path} ({path.stat().st_size / 1024:.1f} KiB)"
    for expected in ("id          12345678-1234-5678-1234-567812345678",
                     "timestamp   2023-03-10T11:30:00",
                     "framework   toy 1.2.0 (written by flm-toy unknown)",
                     "model       toy.Toy", "  info      blob: 1000", "            note: xor",
                     "  params    optimizer: adams", "  metrics   recall: 0.95",
                     'extra       tags: ["test"]', "codec       zstd (format version 1)",
                     f"artifacts   1 artifact: foo.json ({artifact_file.stat().st_size} B)",
                     f"digest      sha256:{meta.model_digest} (model payload)"):
        assert expected in lines
    assert any(line.startswith("sections    2 sections, ") for line in lines)
    assert any(line.startswith("  artifact foo.json: ") and "1 block," in line
               for line in lines)


def test_inspect_counts_in_the_singular(toy: Any, tmp_path: Path) -> None:
    flm_core.dump(toy.model(), tmp_path / "m.flm")
    lines = flm("inspect", str(tmp_path / "m.flm")).stdout.splitlines()
    assert any(line.startswith("sections    1 section, ") for line in lines)
    assert "artifacts   0 artifacts" in lines and "extra       none" in lines


def test_inspect_json_is_the_metadata_and_meta_is_an_alias(small_file: Path) -> None:
    out = flm("inspect", "--json", str(small_file))
    expected = json.loads(json.dumps(flm_core.read_meta(small_file).to_dict()))
    assert json.loads(out.stdout) == expected
    assert flm("meta", "--json", str(small_file)).stdout == out.stdout


def test_inspect_reads_standard_input(small_file: Path) -> None:
    out = flm("inspect", "--json", "-", stdin=small_file.read_bytes())
    assert json.loads(out.stdout)["format"]["sections"][1]["kind"] == "model"
    assert flm("inspect", "-", stdin=small_file.read_bytes()).stdout.startswith(
        "file        <stdin>")


def test_inspect_verify_checks_every_byte(small_file: Path, flmfile: Any) -> None:
    block = flmfile.walk(small_file.read_bytes()).sections[-1].blocks[0]
    _flip(small_file, block.end - 6)
    assert flm("inspect", str(small_file)).returncode == 0  # head and tail only
    out = flm("inspect", "--verify", str(small_file))
    assert out.returncode == 1
    assert out.stderr == (f"flm: error: {small_file}: block checksum mismatch in model at "
                          f"offset {block.offset}\n")


# ---------------------------------------------------------------------------------- verify


def test_verify_takes_several_files_and_exits_with_the_worst(
    small_file: Path, tmp_path: Path, flmfile: Any,
) -> None:
    damaged = tmp_path / "damaged.flm"
    damaged.write_bytes(small_file.read_bytes())
    artifact = flmfile.walk(damaged.read_bytes()).sections[0]
    _flip(damaged, artifact.blocks[0].end - 6)
    good = flm("verify", str(small_file), str(small_file))
    assert good.returncode == 0 and good.stderr == ""
    assert good.stdout.count(f"ok: {small_file}: toy toy.Toy, 2 sections, model sha256 ") == 2
    out = flm("verify", str(small_file), str(damaged), str(tmp_path / "missing.flm"))
    assert out.returncode == 1
    assert out.stdout.startswith(f"ok: {small_file}: ") and out.stdout.count("\n") == 1
    assert out.stderr.splitlines() == [
        f"flm: error: {damaged}: block checksum mismatch in artifact 'foo.json' at offset "
        f"{artifact.blocks[0].offset}",
        f"flm: error: {tmp_path / 'missing.flm'}: No such file or directory",
        "flm: 2 of 3 files failed",
    ]


def test_a_trailer_flip_shows_one_true_offset_in_inspect_and_verify(
    small_file: Path, flmfile: Any,
) -> None:
    trailer = flmfile.walk(small_file.read_bytes()).trailer_offset
    _flip(small_file, trailer + 12)
    inspected, verified = flm("inspect", str(small_file)), flm("verify", str(small_file))
    assert inspected.returncode == verified.returncode == 1
    assert inspected.stderr == verified.stderr
    offset = int(verified.stderr.rsplit("offset ", 1)[1])
    assert trailer < offset <= small_file.stat().st_size


def test_verify_reads_standard_input(small_file: Path) -> None:
    out = flm("verify", "-", stdin=small_file.read_bytes())
    assert out.returncode == 0 and out.stdout.startswith("ok: <stdin>: toy toy.Toy")
    truncated = flm("verify", "-", stdin=small_file.read_bytes()[:-5])
    assert truncated.returncode == 1 and truncated.stderr.startswith("flm: error: <stdin>: ")


@pytest.mark.parametrize(("content", "message"), [
    (b"not a model at all, just text", "not an FLM file (bad magic bytes)"),
    (b"", "file is truncated: expected 16 bytes of header at offset 0"),
])
@pytest.mark.parametrize("command", ["inspect", "verify", "extract", "recompress"])
def test_every_error_names_its_file(tmp_path: Path, command: str, content: bytes,
                                    message: str) -> None:
    path = tmp_path / "bad.flm"
    path.write_bytes(content)
    extra = {"extract": [str(tmp_path / "out")], "recompress": [str(tmp_path / "o.flm")]}
    out = flm(command, str(path), *extra.get(command, []))
    assert (out.returncode, out.stdout) == (1, "")
    assert out.stderr == f"flm: error: {path}: {message}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.flm"]  # nothing left behind


def test_a_directory_is_named_too(tmp_path: Path) -> None:
    out = flm("inspect", str(tmp_path))
    assert out.stderr == f"flm: error: {tmp_path}: Is a directory\n"


# ------------------------------------------------------------------------------ the shell


def test_a_closed_pipe_ends_quietly(toy: Any, tmp_path: Path) -> None:
    path = tmp_path / "m.flm"
    flm_core.dump(toy.model(), path, extra={f"key{i}": "v" * 60 for i in range(4000)})
    proc = subprocess.Popen([sys.executable, "-m", "flm_core", "inspect", str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b"file ")
    proc.stdout.close()  # `| head -1`: ~300 KB more than a pipe holds are still to come
    assert proc.stderr.read() == b""
    assert proc.wait(timeout=60) == 1


def test_output_that_fits_a_pipe_reaches_head_whole(small_file: Path) -> None:
    """One write per output: `| head` under `set -o pipefail` (as the docs' tests run
    their blocks) cannot see flm fail."""
    for _ in range(5):
        out = subprocess.run(["bash", "-euo", "pipefail", "-c",
                              f"{sys.executable} -m flm_core inspect {small_file} | head -1"],
                             capture_output=True, text=True, timeout=60)
        assert (out.returncode, out.stderr) == (0, "")
        assert out.stdout.startswith("file ")


def test_version_from_every_entry_point() -> None:
    version = importlib.metadata.version("flm-core")
    assert flm_core.__version__ == version
    assert flm("--version").stdout == f"flm {version}\n"
    for module in ("flm_core", "flm_core.cli"):
        out = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True,
                             text=True, check=True)
        assert out.stdout == f"flm {version}\n"
    script = Path(sys.executable).parent / "flm"
    if script.exists():  # the console script pip installed
        assert subprocess.run([str(script), "--version"], capture_output=True, text=True,
                              check=True).stdout == f"flm {version}\n"


def test_help_is_plain_text() -> None:
    from flm_core.cli import build_parser

    texts = [flm("--help").stdout] + [
        flm(command, "--help").stdout
        for command in ("inspect", "meta", "verify", "extract", "recompress", "plugins")]
    for text in texts:
        assert text.startswith("usage: flm") and "``" not in text and ":class:" not in text
    assert build_parser().prog == "flm"


def test_no_subcommand_is_a_usage_error() -> None:
    out = flm()
    assert out.returncode == 2 and "usage: flm" in out.stderr


# ------------------------------------------------------------------------------- plugins


def test_plugins_lists_distributions_versions_and_failures() -> None:
    env = {"PYTHONPATH": str(TESTS / "fakedist")}
    out = flm("plugins", env=env)
    assert out.returncode == 0 and out.stderr == ""
    lines = out.stdout.splitlines()
    assert "  fake         fake 0.1.0, from flm-fake 0.1.0" in lines
    assert "failed to load:" in lines
    assert ("  broken       flm-broken: ImportError(\"No module named 'some_framework'\")"
            in lines)
    assert any(line.startswith("  bz2, lzma, none, zlib, zstd, from flm-core ")
               for line in lines)
    listed = json.loads(flm("plugins", "--json", env=env).stdout)
    assert listed["frameworks"]["fake"] == {"distribution": "flm-fake", "version": "0.1.0",
                                            "framework_version": "0.1.0"}
    assert listed["codecs"]["zstd"]["distribution"] == "flm-core"
    assert listed["failed"]["broken"].startswith("flm-broken: ImportError(")


def test_plugins_says_which_are_disabled() -> None:
    out = flm("plugins", env={"PYTHONPATH": str(TESTS / "fakedist"),
                              "FLM_DISABLE_PLUGINS": "fake,broken"})
    assert "disabled by FLM_DISABLE_PLUGINS: broken, fake" in out.stdout.splitlines()
    assert "failed to load:" not in out.stdout


# ------------------------------------------------------------------------- what it imports


@pytest.mark.parametrize("command", [
    ["inspect", "{file}"], ["inspect", "--verify", "{file}"], ["verify", "{file}"],
    ["extract", "--model", "{file}", "{tmp}/out"], ["recompress", "{file}", "{tmp}/o.flm"],
    ["plugins"], ["--help"],
])
def test_no_subcommand_imports_a_framework_or_a_bar_when_piped(
    small_file: Path, tmp_path: Path, command: list[str],
) -> None:
    args = [a.format(file=small_file, tmp=tmp_path) for a in command]
    code = ("import sys; from flm_core.cli import main\ntry:\n    main(sys.argv[1:])\n"
            "finally:\n    print(sorted(sys.modules), file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=120)
    modules = eval(proc.stderr.strip().splitlines()[-1])
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert not heavy, f"flm {' '.join(command)} imported {heavy}"
    if command[0] != "plugins":  # files need the core alone: no plugin, not even pluggy
        plugins = sorted(m for m in modules if m.startswith(("flm_", "pluggy"))
                         and not m.startswith("flm_core"))
        assert not plugins, f"flm {' '.join(command)} imported {plugins}"


def test_building_the_parser_imports_nothing_but_argparse() -> None:
    code = ("import sys; before = set(sys.modules); from flm_core.cli import build_parser; "
            "build_parser(); print(sorted(set(sys.modules) - before))")
    new = eval(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True).stdout)
    assert not [m for m in new if m.split(".")[0] in ("attrs", "attr", "pluggy")]
    assert "importlib.metadata" not in new
    assert "flm_core.api" not in new
