"""What each ``flm`` subcommand does. Each returns its exit status and raises
:class:`~flm_core.FLMError` or :class:`OSError` on failure; ``main`` names the file."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flm_core.cli.files import display_name, open_input, open_output, progress_bar
from flm_core.cli.render import plural, render
from flm_core.errors import FLMError
from flm_core.progress import ProgressCallback, stream_size


def _emit(text: str) -> None:
    """``text`` and a newline in one write, flushed: output that fits a pipe's buffer is
    delivered whole before ``| head`` can close it. Under ``python -u`` stdout's binary
    layer is raw and may write part of the data: the rest is written until it all is."""
    if not text:
        return
    sys.stdout.flush()
    data = memoryview((text + "\n").encode(sys.stdout.encoding or "utf-8", "replace"))
    while data:
        written = sys.stdout.buffer.write(data)
        data = data[len(data) if written is None else written :]
    sys.stdout.buffer.flush()


class FileError(Exception):
    """An error about one file: ``main`` prints ``flm: error: FILE: message``."""

    def __init__(self, name: str, error: BaseException) -> None:
        message = str(error)
        if isinstance(error, OSError) and error.strerror:  # not "[Errno 2] ...: 'x.flm'"
            other = error.filename not in (None, name)
            message = f"{error.filename}: {error.strerror}" if other else error.strerror
        super().__init__(f"{display_name(name)}: {message}")


@contextlib.contextmanager
def _about(name: str) -> Iterator[None]:
    """Errors raised inside name ``name``; a closed pipe is no file's fault."""
    try:
        yield
    except BrokenPipeError:
        raise
    except (FLMError, OSError) as exc:
        raise FileError(name, exc) from exc


@contextlib.contextmanager
def _input(name: str, mode: str, buffering: int = 1024 * 1024,
           bar: bool = True) -> Iterator[tuple[Any, ProgressCallback | None, int | None]]:
    """(stream, progress callback or None, size or None) for the input file ``name``."""
    with _about(name), open_input(name, buffering) as stream:
        size = stream_size(stream)
        with progress_bar(mode if bar else "never", Path(display_name(name)).name,
                          size) as progress:
            yield stream, progress, size


class _Output(io.RawIOBase):
    """The output stream, its write errors named after it (reads name the input)."""

    def __init__(self, stream: Any, name: str) -> None:
        super().__init__()
        self._stream, self._name = stream, name

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        with _about(self._name):
            written: int | None = self._stream.write(data)
        return memoryview(data).nbytes if written is None else written


@contextlib.contextmanager
def _output(name: str) -> Iterator[_Output]:
    """The output file; opening, writing and committing it name it, while errors from the
    body (reading the input) pass through to be named after the input."""
    manager = open_output(name)
    with _about(name):
        stream = manager.__enter__()
    try:
        yield _Output(stream, name)
    except BaseException:
        if not manager.__exit__(*sys.exc_info()):
            raise
    else:
        with _about(name):
            manager.__exit__(None, None, None)


def inspect(args: argparse.Namespace) -> int:
    from flm_core.api import read_meta, verify

    # unbuffered: a read-ahead buffer would read the model where a few KB do
    with _input(args.file, args.progress, buffering=0, bar=args.verify) as (stream, bar, size):
        meta = verify(stream, progress=bar) if args.verify else read_meta(stream)
    if args.json:
        _emit(json.dumps(meta.to_dict(), indent=2, ensure_ascii=False))
    else:
        _emit(render(meta, display_name(args.file), size))
    return 0


def verify(args: argparse.Namespace) -> int:
    from flm_core.api import verify as verify_file

    failed = 0
    for name in args.files:
        try:
            with _input(name, args.progress) as (stream, bar, _):
                meta = verify_file(stream, progress=bar)
        except FileError as exc:
            print(f"flm: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        sections = meta.format.sections
        _emit(f"ok: {display_name(name)}: {meta.framework.lib} {meta.model.obj}, "
              f"{plural(len(sections), 'section')}, model sha256 {meta.model_digest}")
    if failed and len(args.files) > 1:
        print(f"flm: {failed} of {len(args.files)} files failed", file=sys.stderr)
    return 1 if failed else 0


def extract(args: argparse.Namespace) -> int:
    from flm_core.cli.extract import extract as extract_file

    with _input(args.file, args.progress) as (stream, bar, _):
        paths = extract_file(stream, Path(args.directory), model=args.model, force=args.force,
                             progress=bar)
    _emit("\n".join(map(str, paths)))
    return 0


def recompress(args: argparse.Namespace) -> int:
    from flm_core.codecs import codec_named
    from flm_core.recompress import recompress as recompress_file

    codec_named(args.compression)  # a wrong name is no file's fault: fail before opening any
    with _input(args.file, args.progress) as (stream, bar, _), _output(args.output) as out:
        meta = recompress_file(stream, out, compression=args.compression, progress=bar)
    if args.output != "-":
        stored = sum(s.stored_size for s in meta.format.sections)
        print(f"{args.output}: {meta.format.codec}, {stored} bytes stored, model sha256 "
              f"{meta.model_digest}", file=sys.stderr)
    return 0


def plugins(args: argparse.Namespace) -> int:
    from flm_core.cli.listing import listing, render_listing

    found = listing()
    _emit(json.dumps(found, indent=2) if args.json else render_listing(found))
    return 0


def predict(args: argparse.Namespace) -> int:
    from flm_core.cli.predict import predict as predict_file

    return predict_file(args)


def serve(args: argparse.Namespace) -> int:
    from flm_core.cli.serve import serve as serve_files

    return serve_files(args)
