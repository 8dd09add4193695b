"""``flm extract`` and ``flm recompress`` end to end, and the progress bar."""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path
from typing import Any

import pytest

import flm_core
from flm_core.cli.files import BAR_MIN_BYTES

TQDM = importlib.util.find_spec("tqdm") is not None


def flm(*args: str, stdin: bytes | None = None,
        python: tuple[str, ...] = ("-m", "flm_core")) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, *python, *args], input=stdin, capture_output=True,
                          timeout=120)


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# --------------------------------------------------------------------------------- extract


def test_extract_unpacks_the_artifacts_and_on_request_the_payload(
    small_file: Path, tmp_path: Path, artifact_file: Path,
) -> None:
    out = flm("extract", str(small_file), str(tmp_path / "a"))
    assert out.returncode == 0 and out.stdout.decode() == f"{tmp_path / 'a' / 'foo.json'}\n"
    assert (tmp_path / "a" / "foo.json").read_bytes() == artifact_file.read_bytes()
    assert _names(tmp_path / "a") == ["foo.json"]  # no staging directory left
    assert flm("extract", "--model", str(small_file), str(tmp_path / "b")).returncode == 0
    payload = (tmp_path / "b" / "model.payload").read_bytes()
    assert hashlib.sha256(payload).hexdigest() == flm_core.read_meta(small_file).model_digest


def test_extract_reads_standard_input(small_file: Path, tmp_path: Path) -> None:
    out = flm("extract", "-", str(tmp_path / "a"), stdin=small_file.read_bytes())
    assert out.returncode == 0 and _names(tmp_path / "a") == ["foo.json"]


def test_extract_never_overwrites_without_force(small_file: Path, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "foo.json").write_text("mine")
    out = flm("extract", str(small_file), str(tmp_path / "a"))
    assert out.returncode == 1
    assert out.stderr.decode() == (f"flm: error: {small_file}: {tmp_path / 'a' / 'foo.json'} "
                                   "exists; pass --force to overwrite it\n")
    assert (tmp_path / "a" / "foo.json").read_text() == "mine"
    assert flm("extract", "--force", str(small_file), str(tmp_path / "a")).returncode == 0
    assert (tmp_path / "a" / "foo.json").read_text() != "mine"


def test_a_damaged_file_extracts_nothing(small_file: Path, tmp_path: Path) -> None:
    data = bytearray(small_file.read_bytes())
    data[-30] ^= 1  # the trailer: every section decoded fine before it
    small_file.write_bytes(bytes(data))
    (tmp_path / "existing").mkdir()
    for target in (tmp_path / "new", tmp_path / "existing"):
        out = flm("extract", "--model", str(small_file), str(target))
        assert out.returncode == 1
        assert out.stderr.decode().startswith(f"flm: error: {small_file}: trailer checksum")
    assert not (tmp_path / "new").exists()
    assert _names(tmp_path / "existing") == []


def test_extract_refuses_a_name_that_leaves_the_directory(tmp_path: Path,
                                                          flmfile: Any) -> None:
    path = tmp_path / "evil.flm"
    section = flmfile.section("artifact", "none", "../evil", [flmfile.block(4, b"evil")])
    path.write_bytes(flmfile.header(flmfile.metadata(artifacts=("../evil",), codec="none"))
                     + section + flmfile.tail([]))
    out = flm("extract", str(path), str(tmp_path / "out"))
    assert out.returncode == 1
    assert "artifact name '../evil' must be a single plain file name" in out.stderr.decode()
    assert _names(tmp_path) == ["evil.flm"]


# ------------------------------------------------------------------------------ recompress


def test_recompress_keeps_the_digest(small_file: Path, tmp_path: Path) -> None:
    out = flm("recompress", str(small_file), str(tmp_path / "x.flm"), "--compression", "lzma")
    assert out.returncode == 0 and out.stdout == b""
    before = json.loads(flm("inspect", "--json", str(small_file)).stdout)
    after = json.loads(flm("inspect", "--json", "--verify", str(tmp_path / "x.flm")).stdout)
    assert after["format"]["codec"] == "lzma"
    assert [s["sha256"] for s in after["format"]["sections"]] == \
        [s["sha256"] for s in before["format"]["sections"]]
    assert {k: v for k, v in after.items() if k != "format"} == \
        {k: v for k, v in before.items() if k != "format"}


def test_recompress_streams_from_stdin_to_stdout(small_file: Path) -> None:
    out = flm("recompress", "-", "-", "-c", "bz2", stdin=small_file.read_bytes())
    assert out.returncode == 0
    inspected = json.loads(flm("inspect", "--json", "--verify", "-", stdin=out.stdout).stdout)
    assert inspected["format"]["codec"] == "bz2"


def test_recompress_errors_name_the_file_at_fault(small_file: Path, tmp_path: Path) -> None:
    out = flm("recompress", str(small_file), str(tmp_path / "x.flm"), "-c", "brotli")
    assert out.returncode == 1
    assert out.stderr.decode().startswith("flm: error: unknown codec 'brotli'; valid codecs: ")
    missing = tmp_path / "no" / "x.flm"
    out = flm("recompress", str(small_file), str(missing))
    assert out.returncode == 1 and out.stderr.decode().startswith(f"flm: error: {missing}: ")
    data = bytearray(small_file.read_bytes())
    data[-30] ^= 1
    small_file.write_bytes(bytes(data))
    out = flm("recompress", str(small_file), str(tmp_path / "x.flm"))
    assert out.returncode == 1
    assert out.stderr.decode().startswith(f"flm: error: {small_file}: trailer checksum")
    assert not (tmp_path / "x.flm").exists()
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# -------------------------------------------------------------------------------- progress


@pytest.fixture
def large_file(toy: Any, tmp_path: Path) -> Path:
    """Over BAR_MIN_BYTES, stored as is, so it is written and read fast."""
    path = tmp_path / "large.flm"
    flm_core.dump(toy.Toy(os.urandom(BAR_MIN_BYTES + 1024)), path, compression="none")
    return path


def _on_a_terminal(*args: str) -> tuple[int, str]:
    """Run ``flm ARGS`` with a pseudo-terminal as stdout and stderr: (status, output)."""
    leader, follower = pty.openpty()
    # 24 rows of 100 columns: a fresh pseudo-terminal is 0 wide, and tqdm would draw nothing
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "flm_core", *args], stdin=subprocess.DEVNULL,
                            stdout=follower, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        try:
            chunk = os.read(leader, 65536) if ready else b""
        except OSError:  # EIO: the child closed the terminal
            chunk = b""
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return proc.wait(timeout=60), b"".join(chunks).decode(errors="replace")


@pytest.mark.skipif(not TQDM, reason="tqdm (flm-core[cli]) is not installed")
def test_a_terminal_shows_a_bar_for_a_large_file(large_file: Path) -> None:
    status, output = _on_a_terminal("verify", str(large_file))
    assert status == 0
    assert "large.flm:" in output and "%|" in output  # tqdm's bar
    assert f"ok: {large_file}: toy" in output


def test_a_pipe_shows_no_bar(large_file: Path) -> None:
    out = flm("verify", str(large_file))
    assert out.returncode == 0 and out.stderr == b""


def test_a_small_file_shows_no_bar_on_a_terminal(small_file: Path) -> None:
    status, output = _on_a_terminal("verify", str(small_file))
    assert status == 0 and "%|" not in output


@pytest.mark.skipif(not TQDM, reason="tqdm (flm-core[cli]) is not installed")
def test_progress_forces_a_bar_and_no_progress_silences_it(small_file: Path,
                                                           tmp_path: Path) -> None:
    for args in (["verify", str(small_file)], ["inspect", "--verify", str(small_file)],
                 ["extract", str(small_file), str(tmp_path / "x")],
                 ["recompress", str(small_file), str(tmp_path / "x.flm")]):
        forced = flm(*args[:1], "--progress", *args[1:])
        assert forced.returncode == 0 and b"%|" in forced.stderr, args
    status, output = _on_a_terminal("verify", "--no-progress", str(small_file))
    assert status == 0 and "%|" not in output


def test_without_tqdm_there_is_no_bar_and_no_error(small_file: Path) -> None:
    hide = ("import sys; sys.modules['tqdm'] = None; from flm_core.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    out = flm("verify", "--progress", str(small_file), python=("-c", hide))
    assert out.returncode == 0 and out.stderr == b""
    assert out.stdout.decode().startswith(f"ok: {small_file}:")
