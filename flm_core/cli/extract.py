"""``flm extract``: unpack a file's artifacts, and on request its raw model payload."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from flm_core.api import _pool
from flm_core.artifact import check_artifact_name
from flm_core.codecs import codec_named
from flm_core.container.layout import Source
from flm_core.container.reader import check_trailer, iter_sections, read_head, read_trailer
from flm_core.container.sections import SectionReader
from flm_core.errors import ArtifactError, FormatError
from flm_core.progress import ProgressCallback, reporter, stream_size

MODEL_FILE = "model.payload"


def _targets(names: list[str], directory: Path, force: bool) -> None:
    for name in names:
        target = directory / name
        if target.is_dir() and not target.is_symlink():
            raise ArtifactError(f"{target} is a directory")
        if not force and os.path.lexists(target):
            raise ArtifactError(f"{target} exists; pass --force to overwrite it")


def _write(reader: SectionReader, path: Path) -> None:
    with open(path, "xb") as out:  # a fresh name in our own directory: never follows a link
        while (block := reader.read_block()) is not None:
            out.write(block)


def extract(stream: Any, directory: Path, *, model: bool = False, force: bool = False,
            progress: ProgressCallback | None = None) -> list[Path]:
    """Unpack the artifacts of the FLM file read from ``stream`` into ``directory``.

    Every section is decoded into a private directory inside ``directory`` and moved into
    place only once the whole file, trailer included, has verified: a damaged file leaves
    nothing behind (nor ``directory``, when this made it). Names are single plain file names,
    checked again here, so nothing lands outside ``directory``. ``model`` adds the raw model
    payload as ``model.payload``.
    """
    source = Source(stream, on_read=reporter(progress, stream_size(stream)))
    meta = read_head(source)
    names = [check_artifact_name(name) for name in meta.format.artifacts]
    if model and MODEL_FILE in names:
        raise ArtifactError(f"an artifact is named {MODEL_FILE}; extract without --model")
    wanted = names + [MODEL_FILE] * model
    _targets(wanted, directory, force)
    made = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".flm-extract-", dir=directory))
    try:
        written = _unpack(source, names, staging, model)
        _targets(wanted, directory, force)  # again: time passed while decoding
        for name in written:
            os.replace(staging / name, directory / name)
    except BaseException:
        if made:
            shutil.rmtree(directory, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [directory / name for name in written]


def _unpack(source: Source, names: list[str], staging: Path, model: bool) -> list[str]:
    written: list[str] = []
    parsed = []
    pool, workers = _pool()
    for section in iter_sections(source, codec_named, pool, workers):
        if section.kind == "artifact":
            if section.name not in names or section.name in written:
                raise FormatError(f"unexpected artifact section {section.name!r}")
            _write(section.reader, staging / check_artifact_name(section.name))
            written.append(section.name)
        elif model:
            _write(section.reader, staging / MODEL_FILE)
            written.append(MODEL_FILE)
        parsed.append(section.finish())
    check_trailer(parsed, read_trailer(source))
    if sorted(n for n in written if n != MODEL_FILE) != sorted(names):
        raise FormatError("the file lacks some artifacts its metadata lists")
    return written
