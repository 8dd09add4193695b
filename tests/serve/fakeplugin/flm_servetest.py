"""A fake plugin for the serving tests, installed by putting this folder on PYTHONPATH.

``sleepy``: a model that sleeps ``delay`` seconds per call, then doubles its input (a slow
prediction must not block health checks; shutdown waits for it). ``mute``: a plugin that
implements no predict (its files load, serving them answers 501).
"""

from __future__ import annotations

import io
import json
import time
from typing import Any

import attrs

import flm_core


@attrs.frozen
class Sleepy:
    delay: float


@attrs.frozen
class Mute:
    note: str = "no inference"


def _dump(model: Any) -> flm_core.Payload:
    data = json.dumps(attrs.asdict(model)).encode()
    signature = flm_core.Signature(
        inputs=[flm_core.TensorSpec("x", "float64", [-1, 1])],
        outputs=[flm_core.TensorSpec("y", "float64", [-1, 1])])
    return flm_core.Payload(write=lambda sink: sink.write(data),
                            signature=signature if isinstance(model, Sleepy) else None)


def _loader(kind: type) -> Any:
    def load(stream: io.BufferedIOBase, meta: flm_core.Metadata) -> Any:
        return kind(**json.loads(stream.read()))

    return load


def _predict(model: Sleepy, inputs: Any) -> Any:
    time.sleep(model.delay)
    return inputs * 2


@flm_core.hookimpl
def flm_serializers() -> list[flm_core.Serializer]:
    return [
        flm_core.Serializer(name="sleepy", distribution="flm-servetest",
                            can_serialize=lambda obj: isinstance(obj, Sleepy),
                            framework_version=lambda: "1.0", dump=_dump, load=_loader(Sleepy),
                            predict=_predict),
        flm_core.Serializer(name="mute", distribution="flm-servetest",
                            can_serialize=lambda obj: isinstance(obj, Mute),
                            framework_version=lambda: "1.0", dump=_dump, load=_loader(Mute)),
    ]
