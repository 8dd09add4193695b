"""dump and load: a Keras 3 model as its native ``.keras`` archive, streamed through FLM."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import shutil
import tempfile
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from typing import IO, Any, cast

import flm_core
from flm_core import Payload
from flm_tensorflow import archive, budget
from flm_tensorflow.info import describe
from flm_tensorflow.versions import keras_version

CHUNK = 1024 * 1024
ARCHIVE_NAME = "model.keras"
_METADATA = "metadata.json"
# A fixed timestamp (the zip epoch) for every member, so equal models give equal bytes.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_FILE_MODE = 0o100644 << 16
_DIR_MODE = (0o040755 << 16) | 0x10  # 0x10: the MS-DOS directory flag
_warned: set[tuple[str, str]] = set()


def dump(model: Any) -> Payload:
    """Describe ``model`` now; save and stream its ``.keras`` archive when the core writes.

    Saving inside ``write`` keeps the temporary archive alive only while it is copied, and a
    save error surfaces inside the core's atomic write, so no partial file is left.
    """
    obj = f"{type(model).__module__}.{type(model).__qualname__}"
    return Payload(write=functools.partial(_write, model), info=describe(model), obj=obj)


def _write(model: Any, sink: io.RawIOBase) -> None:
    with tempfile.TemporaryDirectory(prefix="flm-tensorflow-") as tmp:
        path = os.path.join(tmp, ARCHIVE_NAME)
        model.save(path)
        _normalise_archive(path, cast(IO[bytes], sink))


def _normalise_archive(path: str, sink: IO[bytes]) -> None:
    """Copy the archive into ``sink`` member by member, dropping what varies between saves.

    Keras stamps ``metadata.json`` with the save time and the weights member with the
    current date; both would give two dumps of one model different digests. Members are
    stored uncompressed because the core compresses the whole section better, and copied in
    chunks so a large weights file is never held in memory.
    """
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED) as out:
        for member in sorted(source.infolist(), key=lambda info: info.filename):
            entry = zipfile.ZipInfo(member.filename, date_time=_ZIP_EPOCH)
            entry.compress_type = zipfile.ZIP_STORED
            entry.create_system = 3  # unix, whatever the writing platform
            entry.external_attr = _DIR_MODE if member.is_dir() else _FILE_MODE
            if member.is_dir():
                out.writestr(entry, b"")
            elif member.filename == _METADATA:
                out.writestr(entry, _stable_metadata(source.read(member)))
            else:
                entry.file_size = member.file_size  # lets zipfile pick zip64 up front
                with source.open(member) as src, out.open(entry, "w") as dst:
                    shutil.copyfileobj(src, dst, CHUNK)


def _stable_metadata(raw: bytes) -> bytes:
    # The save date is redundant with the FLM timestamp; keras_version is kept.
    metadata = json.loads(raw)
    if isinstance(metadata, dict):
        metadata.pop("date_saved", None)
    return json.dumps(metadata, sort_keys=True).encode()


@contextlib.contextmanager
def _safe_mode(enabled: bool) -> Iterator[None]:
    """Pin Keras's safe mode for the whole load.

    ``keras.config.enable_unsafe_deserialization()`` sets a global that overrides even an
    explicit ``load_model(safe_mode=True)``; anything else in the process may have called
    it, and the caller of ``flm_core.load`` alone decides. ``SafeModeScope`` (present
    throughout Keras 3 but not public) sets that global for the duration and restores it.
    """
    try:
        from keras.src.saving.serialization_lib import SafeModeScope
    except ImportError:  # pragma: no cover - a Keras without it has no global to override
        yield
        return
    with SafeModeScope(enabled):
        yield


def _is_safe_mode_refusal(exc: BaseException) -> bool:
    # Keras refuses lambdas and untrusted modules with ValueErrors naming `safe_mode`,
    # sometimes wrapped by the layer that was being rebuilt: look down the whole chain.
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if "safe_mode" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _warn_keras_version(meta: flm_core.Metadata) -> None:
    # The core compares framework.version, which is TensorFlow's; the .keras format follows
    # Keras's version, which TensorFlow does not pin, so compare that too.
    written = meta.model.info.get("keras_version")
    installed = keras_version()
    if not isinstance(written, str) or (written, installed) in _warned:
        return
    if written.split(".")[:2] != installed.split(".")[:2]:
        _warned.add((written, installed))
        warnings.warn(
            f"keras {installed} is installed but the model was written with keras {written}; "
            "it may not load or behave identically",
            flm_core.FrameworkVersionWarning,
            stacklevel=4,
        )


def load(
    stream: io.BufferedIOBase,
    meta: flm_core.Metadata,
    *,
    unsafe: bool = False,
    custom_objects: Mapping[str, Any] | None = None,
    compile: bool = True,
) -> Any:
    """Rebuild the model with Keras in safe mode unless ``unsafe``.

    The archive is checked whole first (:mod:`flm_tensorflow.archive`), then handed to Keras
    as a file object: in memory up to ``archive.MEMORY_BYTES``, a private temporary file
    beyond. Every failure is an FLMError: UnsafeModelError for what safe mode or the checks
    refuse, FormatError for whatever else the archive or Keras cannot read.
    """
    if not isinstance(unsafe, bool):
        raise flm_core.OptionError(f"unsafe must be True or False, not {unsafe!r}")
    _warn_keras_version(meta)
    with _keras_errors(unsafe), archive.receive(cast(IO[bytes], stream)) as received:
        size = received.seek(0, os.SEEK_END)
        received.seek(0)
        # Keras allocates every variable a config declares before it reads a weight
        with budget.variable_budget(budget.limit_for(size)):
            return _load_archive(received, unsafe, custom_objects, compile)


def _load_archive(received: IO[bytes], unsafe: bool, custom_objects: Mapping[str, Any] | None,
                  compile: bool) -> Any:
    import keras

    objects = dict(custom_objects) if custom_objects else None
    with _safe_mode(not unsafe):
        try:
            from keras.src.saving import saving_lib
        except ImportError:  # pragma: no cover - a Keras without it: through a private file
            return _load_from_path(keras, received, objects, compile, unsafe)
        return saving_lib.load_model(received, custom_objects=objects, compile=compile,
                                     safe_mode=not unsafe)


def _load_from_path(keras: Any, received: IO[bytes], objects: dict[str, Any] | None,
                    compile: bool, unsafe: bool) -> Any:
    with tempfile.TemporaryDirectory(prefix="flm-tensorflow-") as tmp:
        path = os.path.join(tmp, ARCHIVE_NAME)
        with open(path, "wb") as out:
            shutil.copyfileobj(received, out, CHUNK)
        return keras.saving.load_model(path, custom_objects=objects, compile=compile,
                                       safe_mode=not unsafe)


@contextlib.contextmanager
def _keras_errors(unsafe: bool) -> Iterator[None]:
    """Map what the archive and Keras raise (BadZipFile, OSError from h5py, KeyError,
    JSONDecodeError, TypeError for an unknown class...) to FLMErrors."""
    try:
        yield
    except flm_core.FLMError:
        raise
    except MemoryError as exc:
        raise archive.LimitError(f"loading the Keras model ran out of memory: {exc}") from exc
    except Exception as exc:
        if not unsafe and _is_safe_mode_refusal(exc):
            raise flm_core.UnsafeModelError(
                f"Keras refused part of this model in safe mode: {exc} -- nothing was run. "
                "If you trust the file, load it with flm_core.load(path, unsafe=True)."
            ) from exc
        hint = (" (a custom class: pass custom_objects={name: class} to flm_core.load)"
                if "custom_objects" in str(exc) or "Could not locate" in str(exc) else "")
        raise flm_core.FormatError(
            f"Keras cannot load this model: {type(exc).__name__}: {str(exc)[:1000]}{hint}"
        ) from exc
