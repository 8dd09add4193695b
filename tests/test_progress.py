"""The opt-in ``progress(done, total)`` callback of dump, load, verify and recompress."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import flm_core
from flm_core.recompress import recompress


class Calls(list[tuple[int, "int | None"]]):
    def __call__(self, done: int, total: int | None) -> None:
        self.append((done, total))

    def check(self, total: int | None) -> None:
        """Several calls, never going back, ending at ``done == total``."""
        assert len(self) > 2
        dones = [done for done, _ in self]
        assert dones == sorted(dones)
        assert self[-1] == (dones[-1], dones[-1])
        if total is not None:
            assert dones[-1] == total


def test_dump_reports_bytes_written_and_the_size_at_the_end(toy: Any, tmp_path: Path) -> None:
    calls = Calls()
    path = tmp_path / "m.flm"
    flm_core.dump(toy.model(size=5000), path, progress=calls)
    calls.check(path.stat().st_size)
    assert all(total is None for _, total in calls[:-1])  # unknown until written


def test_load_and_verify_report_bytes_read_of_the_file_size(small_file: Path) -> None:
    size = small_file.stat().st_size
    for read in (lambda cb: flm_core.load(small_file, progress=cb).close(),
                 lambda cb: flm_core.verify(small_file, progress=cb)):
        calls = Calls()
        read(calls)
        calls.check(size)
        assert {total for _, total in calls} == {size}


def test_a_pipe_reports_no_total(small_file: Path) -> None:
    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            return self._data.readinto(buffer)

    calls = Calls()
    flm_core.verify(Pipe(small_file.read_bytes()), progress=calls)
    assert {total for _, total in calls} == {None}
    assert calls[-1][0] == small_file.stat().st_size


def test_recompress_reports_bytes_read(small_file: Path, tmp_path: Path) -> None:
    calls = Calls()
    recompress(small_file, tmp_path / "out.flm", compression="lzma", progress=calls)
    calls.check(small_file.stat().st_size)


def test_no_callback_costs_nothing_and_changes_nothing(small_file: Path) -> None:
    assert flm_core.verify(small_file) == flm_core.verify(small_file, progress=Calls())
