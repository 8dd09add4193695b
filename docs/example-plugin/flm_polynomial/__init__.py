"""An example FLM plugin: numpy polynomials as models, and a zstd-ultra codec."""

from __future__ import annotations

import io
import json
import struct
import sys
from collections.abc import Iterable
from typing import Any

import flm_core

HEADER = struct.Struct("<I")


def is_polynomial(obj: object) -> bool:
    # numpy is not imported unless the caller already has a polynomial in hand.
    polynomial = sys.modules.get("numpy.polynomial")
    return polynomial is not None and isinstance(obj, polynomial.Polynomial)


def dump(model: Any) -> flm_core.Payload:
    coef = model.coef.astype("<f8")
    header = json.dumps({"degree": int(model.degree()), "domain": model.domain.tolist(),
                         "window": model.window.tolist(), "symbol": model.symbol}).encode()

    def write(sink: io.RawIOBase) -> None:
        sink.write(HEADER.pack(len(header)))
        sink.write(header)
        sink.write(memoryview(coef))

    # a polynomial maps each value of a 1-d batch to one value
    signature = flm_core.Signature(inputs=[flm_core.TensorSpec("x", "float64", [-1])],
                                   outputs=[flm_core.TensorSpec("y", "float64", [-1])])
    return flm_core.Payload(write=write, info=json.loads(header), signature=signature)


def predict(model: Any, inputs: Any) -> Any:
    return model(inputs)


def load(stream: io.BufferedIOBase, meta: flm_core.Metadata) -> Any:
    import numpy

    (length,) = HEADER.unpack(stream.read(HEADER.size))
    header = json.loads(stream.read(length))
    coef = numpy.empty(header["degree"] + 1, dtype="<f8")
    if stream.readinto(memoryview(coef).cast("B")) != coef.nbytes:
        raise flm_core.FormatError("polynomial payload is shorter than its header says")
    return numpy.polynomial.Polynomial(coef, domain=header["domain"], window=header["window"],
                                       symbol=header["symbol"])


def _numpy_version() -> str:
    # `flm plugins` lists versions: read numpy's without importing it unless it is loaded
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        return str(numpy.__version__)
    from importlib.metadata import version

    return version("numpy")


def _compress_ultra(block: memoryview) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor(level=19).compress(block)  # type: ignore[no-any-return]


def _decompress_ultra(data: bytes | memoryview, raw_size: int) -> bytes:
    import zstandard

    if zstandard.frame_content_size(data) != raw_size:
        raise flm_core.FormatError("zstd-ultra frame size does not match its block header")
    return zstandard.ZstdDecompressor().decompress(data, max_output_size=raw_size)  # type: ignore[no-any-return]


@flm_core.hookimpl
def flm_serializers() -> Iterable[flm_core.Serializer]:
    return [flm_core.Serializer(name="polynomial", distribution="flm-polynomial",
                                can_serialize=is_polynomial, framework_version=_numpy_version,
                                dump=dump, load=load, predict=predict)]


@flm_core.hookimpl
def flm_codecs() -> Iterable[flm_core.Codec]:
    return [flm_core.Codec(name="zstd-ultra", compress=_compress_ultra,
                           decompress=_decompress_ultra)]
