"""Typed records that plugins hand to the core through the registration hooks."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from flm_core.signature import Signature


@attrs.frozen
class Payload:
    """What a serializer's ``dump`` returns: a description of the model and a way to stream it.

    ``write(sink)`` streams the model into ``sink``, a write-only binary file object. Write
    large numeric state as buffers (``sink.write(memoryview(array))``): the core compresses
    them block by block without another full copy, and a buffer whose itemsize is 2, 4 or 8
    gets the byte-shuffle filter. A buffer must stay unchanged until ``write`` returns.

    ``info`` is a JSON-able description of the model (hyper-parameters, layer shapes, never
    the weights); ``obj`` overrides the class name recorded in ``meta.model.obj``;
    ``signature`` is what the model takes and returns, where the plugin can tell
    (recorded as ``meta.model.signature``).
    """

    write: Callable[[io.RawIOBase], None]
    info: Mapping[str, Any] = attrs.field(factory=dict)
    obj: str | None = None
    signature: Signature | None = None


def _names(names: Iterable[str]) -> frozenset[str]:
    return frozenset(names)


@attrs.frozen
class Serializer:
    """One framework's way of writing and reading models.

    :ivar name: the framework name recorded as ``meta.framework.lib`` (``"sklearn"``).
    :ivar distribution: the distribution that provides it (``"flm-sklearn"``); error
        messages tell users to ``pip install`` it.
    :ivar can_serialize: ``can_serialize(obj) -> bool``. Must not import the framework:
        decide from ``type(obj).__mro__`` module names or from ``sys.modules``.
    :ivar framework_version: ``() -> str``, the installed framework's version. Read it
        without importing the framework when it is not loaded yet (``sys.modules``, then
        ``importlib.metadata.version``): ``flm plugins`` lists it and must stay fast.
    :ivar dump: ``dump(model, **options) -> Payload``.
    :ivar load: ``load(stream, meta, **options) -> model``; ``stream`` is a readable binary
        file object over the payload (``read``/``readinto``), ``meta`` the file's
        :class:`~flm_core.Metadata`. Options come from the caller of ``flm_core.load``, never
        from the file.
    :ivar dump_options: names of the keyword options ``dump`` accepts.
    :ivar load_options: names of the keyword options ``load`` accepts.
    :ivar predict: ``predict(model, inputs, **options) -> outputs``, or None for a plugin
        that cannot run inference (its files still dump and load; serving them says so).
        ``inputs`` is a numpy array, or ``{name: array}`` for a model with several inputs,
        already checked against the signature; ``outputs`` a numpy array or
        ``{name: array}``. Import the framework inside, as ``load`` does.
    :ivar predict_options: names of the keyword options ``predict`` accepts
        (sklearn's ``method``).
    """

    name: str
    distribution: str
    can_serialize: Callable[[object], bool]
    framework_version: Callable[[], str]
    dump: Callable[..., Payload]
    load: Callable[..., Any]
    dump_options: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    load_options: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    predict: Callable[..., Any] | None = None
    predict_options: frozenset[str] = attrs.field(default=frozenset(), converter=_names)


@attrs.frozen
class Codec:
    """A block compressor.

    :ivar name: the name users pass as ``compression=`` and that the file records.
    :ivar compress: ``compress(block) -> bytes-like`` for one block (at most a few MiB).
    :ivar decompress: ``decompress(data, raw_size) -> bytes-like``; must never produce more
        than ``raw_size`` bytes (the core rejects any other length), so a hostile file cannot
        inflate past what its checksummed block header declares.
    :ivar decompress_into: optional ``decompress_into(data, out) -> int``: decode straight
        into ``out``, a writable buffer of exactly the block's raw size, and return how many
        bytes were written; it must write nothing past ``out`` and raise on data that does
        not decode to exactly ``len(out)`` bytes. With it, a plugin reading a large tensor
        gets the blocks decoded in its own memory, without a copy; without it, the core
        decompresses and copies.
    """

    name: str
    compress: Callable[[memoryview], bytes | bytearray | memoryview]
    decompress: Callable[[bytes | memoryview, int], bytes | bytearray | memoryview]
    decompress_into: Callable[[bytes | memoryview, memoryview], int] | None = None
