"""Build hostile flm-tensorflow files: a genuine ``.keras`` archive taken apart, edited and
zipped again, inside a real .flm written by the core (every checksum right), so only
flm-tensorflow's checks and Keras's safe mode stand between the edit and Keras.

Shared by the red-team tests and the fuzzer (run as a script in a subprocess).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import keras
from flm_tensorflow import saving

import flm_core
from flm_core.fuzzing import replace_at as replace_at  # the tests' JSON edits
from flm_core.plugins import Registry


def small_model() -> Any:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"),
                              keras.layers.Dense(1)])
    return model


class Genuine:
    """A genuine payload: the archive's bytes and its members by name, in order."""

    def __init__(self, model: Any = None) -> None:
        self.model = model if model is not None else small_model()
        sink = io.BytesIO()
        Registry.current().serializers["tensorflow"][0].dump(self.model).write(sink)
        self.payload = sink.getvalue()
        with zipfile.ZipFile(io.BytesIO(self.payload)) as zf:
            self.members = {info.filename: zf.read(info) for info in zf.infolist()}
        self.config: dict[str, Any] = json.loads(self.members["config.json"])

    def edited_config(self) -> dict[str, Any]:
        return copy.deepcopy(self.config)

    def build(self, config: Any = None, members: dict[str, bytes] | None = None,
              compression: int = zipfile.ZIP_STORED) -> bytes:
        """An archive of the genuine members, with those given replaced or added (a value
        of None drops a member); config (a JSON value) replaces config.json."""
        chosen = dict(self.members)
        if config is not None:
            chosen["config.json"] = json.dumps(config).encode()
        for name, data in (members or {}).items():
            if data is None:
                chosen.pop(name, None)
            else:
                chosen[name] = data
        return zip_bytes(chosen, compression)


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data,
                        compress_type=compression)
    return out.getvalue()


@contextlib.contextmanager
def _payload_replaced(data: bytes) -> Iterator[None]:
    original = saving._write
    saving._write = lambda model, sink: sink.write(data)  # type: ignore[assignment]
    try:
        yield
    finally:
        saving._write = original  # type: ignore[assignment]


_CARRIER: list[Any] = []


def flm_file(payload: bytes) -> bytes:
    """A complete .flm around ``payload``, written by the core: every CRC and digest right."""
    if not _CARRIER:
        _CARRIER.append(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    out = io.BytesIO()
    with _payload_replaced(payload):
        flm_core.dump(_CARRIER[0], out)
    return out.getvalue()


def load(data: bytes, **options: Any) -> Any:
    with flm_core.load(io.BytesIO(data), **options) as artifact:
        return artifact.model


def central_entry(archive: bytes, name: str) -> int:
    """Offset of ``name``'s central directory record in ``archive``."""
    start = 0
    while True:
        offset = archive.index(b"PK\x01\x02", start)
        name_length = int.from_bytes(archive[offset + 28:offset + 30], "little")
        if archive[offset + 46:offset + 46 + name_length] == name.encode():
            return offset
        start = offset + 4
