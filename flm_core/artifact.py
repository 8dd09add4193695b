"""ModelArtifact (what ``load`` returns) and the rules for artifact names."""

from __future__ import annotations

import os
import weakref
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs

from flm_core.errors import ArtifactError
from flm_core.meta import Metadata


def check_artifact_name(name: object) -> str:
    """A single plain file name: no separators, no ``..``, no drive, no NUL, not empty."""
    if not isinstance(name, str) or not name:
        raise ArtifactError(f"artifact name must be a non-empty string, not {name!r}")
    bad = (
        name in (".", "..")
        or "\x00" in name
        or "/" in name
        or "\\" in name
        or ":" in name
        or os.path.isabs(name)
        or len(name.encode("utf-8")) > 255
    )
    if bad:
        raise ArtifactError(f"artifact name {name!r} must be a single plain file name")
    return name


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


class ArtifactDir:
    """Where ``load`` unpacks artifacts: the caller's directory, or a temporary one we own.

    Into the caller's directory only once the whole file has verified: until then artifacts
    wait in a private staging directory inside it (same filesystem, so moving them is a
    rename), and a rejected file leaves nothing behind, not even a directory ``load`` made.
    Made on the first artifact: most files have none, and a directory to create and remove
    would cost a model-less load more than reading the model.
    """

    def __init__(self, directory: str | os.PathLike[str] | None) -> None:
        self._requested = directory
        self._path: Path | None = None
        self._final: Path | None = None
        self._made: list[Path] = []  # directories load created, deepest first
        self._finalizer: weakref.finalize[Any, Any] | None = None

    def _make(self) -> Path:
        import tempfile

        if self._requested is not None:
            final = Path(self._requested).absolute()
            missing = final
            while not missing.exists() and missing != missing.parent:
                self._made.append(missing)
                missing = missing.parent
            final.mkdir(parents=True, exist_ok=True)
            self._final = final
            path = Path(tempfile.mkdtemp(prefix=".flm-staging-", dir=final))
        else:
            path = Path(tempfile.mkdtemp(prefix="flm-artifacts-"))
        self._finalizer = weakref.finalize(self, _remove_tree, path)
        return path

    def target(self, name: str) -> Path:
        check_artifact_name(name)
        if self._path is None:
            self._path = self._make()
        return self._path / name

    def commit(self, staged: dict[str, Path]) -> dict[str, Path]:
        """The file has verified: move staged artifacts into the caller's directory."""
        if self._final is None:
            return staged
        placed = {}
        for name, path in staged.items():
            placed[name] = self._final / name
            os.replace(path, placed[name])
        self.cleanup()  # the now empty staging directory
        return placed

    def abort(self) -> None:
        """The file was rejected: remove what was unpacked, and the directories load made."""
        self.cleanup()
        for made in self._made:
            try:
                made.rmdir()
            except OSError:  # something else was put there meanwhile: not ours to remove
                break

    def cleanup(self) -> None:
        if self._finalizer is not None:
            self._finalizer()


@attrs.define
class ModelArtifact:
    """What :func:`flm_core.load` returns.

    ``artifacts`` maps each artifact name to its unpacked file. Unless ``load`` was given
    ``artifacts_dir``, the files live in a temporary directory that is removed by
    :meth:`close`, by leaving a ``with`` block, or when this object is garbage-collected;
    files unpacked into a caller's ``artifacts_dir`` are never removed.
    """

    model: Any
    meta: Metadata
    artifacts: dict[str, Path]
    _dir: ArtifactDir | None = attrs.field(default=None, repr=False, alias="directory")

    def close(self) -> None:
        if self._dir is not None:
            self._dir.cleanup()

    def __enter__(self) -> ModelArtifact:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
