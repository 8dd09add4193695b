"""The public functions: dump, load, read_meta, verify."""

from __future__ import annotations

import contextlib
import datetime
import functools
import io
import os
import uuid
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Union

import attrs

from flm_core.artifact import ArtifactDir, ModelArtifact, check_artifact_name
from flm_core.codecs import codec_named
from flm_core.container.layout import Source
from flm_core.container.reader import (
    check_trailer,
    iter_section_headers,
    iter_sections,
    read_head,
    read_tail,
    read_trailer,
    skip_blocks,
)
from flm_core.container.writer import atomic_path, encode_head, write_file
from flm_core.errors import (
    ArtifactError,
    FormatError,
    FrameworkVersionWarning,
    MetadataError,
    OptionError,
)
from flm_core.limits import Budget, Limits
from flm_core.meta import (
    FORMAT_VERSION,
    FormatInfo,
    FrameworkInfo,
    Metadata,
    ModelInfo,
    PluginInfo,
    SectionInfo,
)
from flm_core.progress import ProgressCallback, reporter, stream_size
from flm_core.records import Serializer

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from flm_core.plugins import Registry

PathLike = Union[str, "os.PathLike[str]"]
Target = Union[PathLike, IO[bytes], io.RawIOBase, io.BufferedIOBase]  # noqa: UP007 - 3.10 runtime
THREADS_ENV = "FLM_THREADS"
_warned: set[tuple[str, str, str]] = set()


def _workers() -> int:
    try:
        return max(1, int(os.environ.get(THREADS_ENV, "")))
    except ValueError:
        return min(os.cpu_count() or 1, 8)


_pools: dict[int, Executor] = {}


def _pool() -> tuple[Executor | None, int]:
    """A process-wide pool per worker count: starting threads on every call would cost a
    tiny model's dump more than writing it."""
    workers = _workers()
    if workers == 1:
        return None, 1
    if workers not in _pools:
        from concurrent.futures import ThreadPoolExecutor  # ~15 ms; only dump/load need it

        _pools[workers] = ThreadPoolExecutor(workers, thread_name_prefix="flm")
    return _pools[workers], workers


def _is_url(path: Target) -> bool:
    # flm_core.remote (and fsspec) load only for URLs
    return isinstance(path, str) and "://" in path and _remote().is_url(path)


def _remote() -> Any:
    from flm_core import remote

    return remote


@contextlib.contextmanager
def _reading(path: Target, buffering: int = 1024 * 1024,
             storage_options: Mapping[str, Any] | None = None) -> Iterator[Any]:
    if _is_url(path):
        with _remote().reading(path, storage_options or {}) as stream:
            yield stream
    elif isinstance(path, (str, os.PathLike)):
        with open(os.fspath(path), "rb", buffering=buffering) as stream:
            yield stream
    else:
        yield path


def _registry() -> Registry:
    # pluggy and importlib.metadata cost ~40 ms; read_meta and the CLI's `meta` never need them
    from flm_core.plugins import Registry

    return Registry.current()


def _check_options(serializer: Serializer, options: Mapping[str, Any], action: str) -> None:
    allowed = serializer.dump_options if action == "dump" else serializer.load_options
    unknown = sorted(set(options) - allowed)
    if unknown:
        accepted = ", ".join(sorted(allowed)) or "none"
        raise OptionError(
            f"{serializer.name} {action} does not accept {', '.join(unknown)} (accepts: {accepted})"
        )


@functools.cache  # a metadata lookup scans sys.path: ~1.5 ms a call
def _distribution_version(distribution: str) -> str:
    from flm_core.plugins import distribution_version

    found = distribution_version(distribution)  # read by plugin discovery: no second scan
    if found is not None:
        return found
    import importlib.metadata

    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _artifact_paths(artifacts: Mapping[str, PathLike] | None) -> dict[str, Path]:
    paths = {}
    for name, file in (artifacts or {}).items():
        path = Path(os.fspath(file))
        if not path.is_file():
            raise ArtifactError(f"artifact {name!r}: {path} is not a readable file")
        paths[check_artifact_name(name)] = path
    return paths


def _model_id(model_id: uuid.UUID | str | None) -> uuid.UUID:
    if model_id is None:
        return uuid.uuid4()
    try:
        return model_id if isinstance(model_id, uuid.UUID) else uuid.UUID(str(model_id))
    except ValueError as exc:
        raise MetadataError(f"model_id {model_id!r} is not a UUID") from exc


def dump(
    model: Any,
    path: Target,
    *,
    compression: str = "zstd",
    model_id: uuid.UUID | str | None = None,
    timestamp: datetime.datetime | None = None,
    params: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    artifacts: Mapping[str, PathLike] | None = None,
    framework: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    input_example: Any = None,
    **plugin_options: Any,
) -> Metadata:
    """Write ``model``, its metadata and ``artifacts`` to ``path``: a path, a binary stream,
    or a URL (``s3://bucket/model.flm``; needs ``flm-core[remote]``, see docs/remote.md).

    The serializer is the one installed plugin whose ``can_serialize`` claims the model, or
    the one named by ``framework``. ``plugin_options`` go to it (e.g. ``example_inputs`` for
    torch). Writing to a path is atomic: a temporary file beside it is renamed over ``path``
    only when complete, so a failure never leaves a broken or clobbered file; an upload
    to a URL likewise becomes visible only when complete. ``storage_options`` go to fsspec
    (credentials, endpoint, region). ``progress(done, total)`` is called as bytes are
    written (see :mod:`flm_core.progress`). ``input_example`` (a few rows: an array-like,
    or ``{name: array-like}``) is stored in the signature, which it checks, or infers
    where the plugin records none (see docs/serving.md).

    :return: the :class:`Metadata` written, with section sizes and the model digest.
    """
    registry = _registry()
    codec = registry.codec(compression)
    serializer = (
        registry.serializer_named(framework) if framework else registry.serializer_for(model)
    )
    _check_options(serializer, plugin_options, "dump")
    files = _artifact_paths(artifacts)
    if timestamp is not None and not isinstance(timestamp, datetime.datetime):
        raise MetadataError(f"timestamp must be a datetime, not {type(timestamp).__name__}")
    uid = _model_id(model_id)  # bad input fails before an expensive export
    payload = serializer.dump(model, **plugin_options)
    signature = payload.signature
    if input_example is not None:
        from flm_core.inference import example_signature

        signature = example_signature(serializer, model, signature, input_example)
    meta = Metadata(
        id=uid,
        timestamp=timestamp or datetime.datetime.now(datetime.timezone.utc),
        framework=FrameworkInfo(lib=serializer.name, version=serializer.framework_version()),
        model=ModelInfo(
            obj=payload.obj or f"{type(model).__module__}.{type(model).__qualname__}",
            info=dict(payload.info),
            params=dict(params or {}),
            metrics=dict(metrics or {}),
            signature=signature,
        ),
        plugin=PluginInfo(serializer.distribution, _distribution_version(serializer.distribution)),
        format=FormatInfo(version=FORMAT_VERSION, codec=codec.name, artifacts=list(files)),
        extra=dict(extra or {}),
    )
    head = encode_head(meta)
    with contextlib.ExitStack() as stack:
        if _is_url(path):
            stream: Any = stack.enter_context(_remote().writing(path, storage_options or {}))
        elif isinstance(path, (str, os.PathLike)):
            stream = stack.enter_context(atomic_path(Path(os.fspath(path))))
        else:
            stream = path
        pool, workers = _pool()
        report = reporter(progress, None)
        sections = write_file(stream, head, codec, files, payload.write, pool, workers, report)
    if report is not None:
        report.finish()
    return attrs.evolve(meta, format=attrs.evolve(meta.format, sections=sections))


def _warn_version(meta: Metadata, serializer: Serializer) -> None:
    installed = serializer.framework_version()
    key = (meta.framework.lib, meta.framework.version, installed)
    if installed.split(".")[:2] != meta.framework.version.split(".")[:2] and key not in _warned:
        _warned.add(key)
        warnings.warn(
            f"{meta.framework.lib} {installed} is installed but the model was written with "
            f"{meta.framework.version}; it may not load or behave identically",
            FrameworkVersionWarning,
            stacklevel=3,
        )


def load(
    path: Target,
    *,
    artifacts_dir: PathLike | None = None,
    storage_options: Mapping[str, Any] | None = None,
    cache_dir: PathLike | None = None,
    progress: ProgressCallback | None = None,
    limits: Limits | None = None,
    **plugin_options: Any,
) -> ModelArtifact:
    """Read a file written by :func:`dump` (a path, a binary stream or a URL) and rebuild
    its model.

    Every byte is checked as it is read; the model is returned only when the whole file,
    trailer included, has verified. ``plugin_options`` go to the framework's loader (e.g.
    ``trusted=[...]`` for sklearn); nothing in the file can widen what the loader trusts.

    :param artifacts_dir: where to unpack artifacts. By default a temporary directory
        removed by ``ModelArtifact.close()``, a ``with`` block, or garbage collection.
    :param storage_options: for a URL: fsspec's options (credentials, endpoint, region).
    :param cache_dir: for a URL: keep a local copy there, keyed by the file's digest, and
        use it while the remote file is unchanged; every section digest is checked on use.
    :param progress: ``progress(done, total)``, bytes read (see :mod:`flm_core.progress`).
    :param limits: what reading the file may cost at most (:class:`flm_core.Limits`; the
        defaults admit any real model up to a terabyte).
    """
    if cache_dir is not None and _is_url(path):
        return _load_cached(str(path), storage_options or {}, cache_dir, artifacts_dir,
                            plugin_options, progress, limits)
    return _load(path, storage_options, artifacts_dir, plugin_options, limits, progress)


def _load_cached(url: str, storage_options: Mapping[str, Any], cache_dir: PathLike,
                 artifacts_dir: PathLike | None, options: Mapping[str, Any],
                 progress: ProgressCallback | None, limits: Limits | None) -> ModelArtifact:
    remote = _remote()
    while True:
        entry, hit = remote.cached_copy(url, storage_options, cache_dir)
        try:
            return _load(entry, None, artifacts_dir, options, limits, progress)
        except FormatError:  # ChecksumError included: altered on disk, never used
            remote.evict(entry)
            if not hit:
                raise


def _load(path: Target, storage_options: Mapping[str, Any] | None,
          artifacts_dir: PathLike | None, plugin_options: Mapping[str, Any],
          limits: Limits | None, progress: ProgressCallback | None) -> ModelArtifact:
    registry = _registry()
    with _reading(path, storage_options=storage_options) as stream:
        source = Source(stream, on_read=reporter(progress, stream_size(stream)),
                        budget=Budget(limits))
        meta = read_head(source)
        serializer = registry.serializer_named(meta.framework.lib, meta.plugin.distribution)
        _check_options(serializer, plugin_options, "load")
        _warn_version(meta, serializer)
        directory = ArtifactDir(artifacts_dir)
        try:
            model, staged, sections = _read_body(source, meta, registry, serializer, directory,
                                                 plugin_options)
            files = directory.commit(staged)
        except BaseException:
            directory.abort()
            raise
    full = attrs.evolve(meta, format=attrs.evolve(meta.format, sections=sections))
    return ModelArtifact(model, full, files, directory=directory)


def _read_body(
    source: Source,
    meta: Metadata,
    registry: Registry,
    serializer: Serializer,
    directory: ArtifactDir,
    options: Mapping[str, Any],
) -> tuple[Any, dict[str, Path], tuple[SectionInfo, ...]]:
    files: dict[str, Path] = {}
    models: list[Any] = []
    parsed = []
    pool, workers = _pool()
    # every digest is recomputed: the trailer's claim is believed only once it matches
    for section in iter_sections(source, registry.codec, pool, workers):
        if section.kind == "artifact":
            if section.name not in meta.format.artifacts or section.name in files:
                raise FormatError(f"unexpected artifact section {section.name!r}")
            files[section.name] = _unpack(section.reader, directory.target(section.name))
        elif models:
            raise FormatError("the file holds more than one model section")
        else:
            stream = io.BufferedReader(section.reader, buffer_size=1024 * 1024)
            models.append(serializer.load(stream, meta, **options))
        parsed.append(section.finish())
    recorded = read_trailer(source)
    check_trailer(parsed, recorded)
    if not models or set(files) != set(meta.format.artifacts):
        raise FormatError("the file lacks its model or some artifacts its metadata lists")
    return models[0], files, recorded


def _unpack(reader: io.RawIOBase, target: Path) -> Path:
    tmp = target.with_name(f".{uuid.uuid4().hex}.flm-tmp")  # fixed length: names reach 255
    try:
        with open(tmp, "wb") as out:
            while chunk := reader.read(1024 * 1024):
                out.write(chunk)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def read_meta(path: Target, *, storage_options: Mapping[str, Any] | None = None,
              limits: Limits | None = None) -> Metadata:
    """The file's metadata, sections included, without decompressing the model or importing
    any framework. On a seekable file this reads the head and the tail: a few KB, also from
    a URL (by range requests).

    The sections' sizes and digests are what the file claims: only :func:`load` and
    :func:`verify` recompute them, and fail if they differ."""
    # buffering=0: a read-ahead buffer would read the model
    with _reading(path, buffering=0, storage_options=storage_options) as stream:
        source = Source(stream, budget=Budget(limits))
        meta = read_head(source)
        if stream.seekable():
            sections = read_tail(stream, limits)
        else:
            for kind, _, name, _ in iter_section_headers(source):
                skip_blocks(source, f"{kind} {name!r}")
            sections = read_trailer(source)
    return attrs.evolve(meta, format=attrs.evolve(meta.format, sections=sections))


def verify(path: Target, *, storage_options: Mapping[str, Any] | None = None,
           progress: ProgressCallback | None = None, limits: Limits | None = None) -> Metadata:
    """Decode every section and check every checksum and digest, without any plugin.

    Needs only the codecs the file uses: plugins are searched only for a codec that is not
    built in. Raises :class:`ChecksumError` or :class:`FormatError` on any damage, naming
    the section and its offset in the file. ``progress(done, total)``: bytes read.
    """
    with _reading(path, storage_options=storage_options) as stream:
        source = Source(stream, on_read=reporter(progress, stream_size(stream)),
                        budget=Budget(limits))
        meta = read_head(source)
        parsed = []
        pool, workers = _pool()
        for section in iter_sections(source, codec_named, pool, workers):
            parsed.append(section.finish())
        recorded = read_trailer(source)
    check_trailer(parsed, recorded)
    return attrs.evolve(meta, format=attrs.evolve(meta.format, sections=recorded))
