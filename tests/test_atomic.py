"""Writing to a path is atomic: a failure leaves neither a partial file nor a temp file, and
never clobbers the previous file; the finished file's mode follows the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import flm_core


@pytest.fixture
def previous(toy: Any, tmp_path: Path) -> Iterator[tuple[Path, bytes]]:
    """A good file already at the target path."""
    path = tmp_path / "out" / "m.flm"
    path.parent.mkdir()
    flm_core.dump(toy.model(size=10), path)
    yield path, path.read_bytes()


def _listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.parametrize("exc", [OSError("disk on fire"), KeyboardInterrupt()],
                         ids=["OSError", "KeyboardInterrupt"])
@pytest.mark.parametrize("written", [0, 10, 5_000_000], ids=["0B", "10B", "5MB"])
def test_payload_write_failing_mid_dump_leaves_no_file_and_no_temp_file(
    toy: Any, tmp_path: Path, exc: BaseException, written: int,
) -> None:
    toy.plugin.fail_after, toy.plugin.fail_with = written, exc
    with pytest.raises(type(exc)):
        flm_core.dump(toy.model(), tmp_path / "m.flm")
    assert _listing(tmp_path) == []


def test_payload_write_failing_keeps_the_previous_file_byte_identical(
    toy: Any, previous: tuple[Path, bytes],
) -> None:
    path, before = previous
    toy.plugin.fail_after = 1_000_000
    with pytest.raises(OSError, match="disk on fire"):
        flm_core.dump(toy.model(size=99), path)
    assert path.read_bytes() == before
    assert _listing(path.parent) == ["m.flm"]


def test_serializer_dump_failing_before_writing_keeps_the_previous_file(
    toy: Any, previous: tuple[Path, bytes],
) -> None:
    path, before = previous
    toy.plugin.fail_in_dump = True
    with pytest.raises(RuntimeError, match="cannot serialize"):
        flm_core.dump(toy.model(size=99), path)
    assert path.read_bytes() == before
    assert _listing(path.parent) == ["m.flm"]


@pytest.mark.parametrize("bad", [{"compression": "nope"}, {"params": {"x": object()}},
                                 {"note": 1, "colour": "red"}, {"artifacts": {"../x": __file__}}],
                         ids=["codec", "params", "option", "artifact"])
def test_rejected_arguments_keep_the_previous_file(
    toy: Any, previous: tuple[Path, bytes], bad: dict[str, Any],
) -> None:
    path, before = previous
    with pytest.raises(flm_core.FLMError):
        flm_core.dump(toy.model(size=99), path, **bad)
    assert path.read_bytes() == before
    assert _listing(path.parent) == ["m.flm"]


def test_a_successful_dump_replaces_the_previous_file(
    toy: Any, previous: tuple[Path, bytes],
) -> None:
    path, before = previous
    flm_core.dump(toy.model(size=99), path)
    assert path.read_bytes() != before
    assert _listing(path.parent) == ["m.flm"]
    with flm_core.load(path) as loaded:
        assert loaded.model == toy.model(size=99)


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_file_mode_after_dump_follows_the_umask(
    toy: Any, tmp_path: Path, umask: int, mode: int,
) -> None:
    old = os.umask(umask)
    try:
        flm_core.dump(toy.model(), tmp_path / "m.flm")
        assert os.umask(umask) == umask  # dump left the umask as it found it
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m.flm").stat().st_mode) == mode
