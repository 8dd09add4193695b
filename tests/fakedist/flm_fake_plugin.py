"""flm-fake: the smallest installed plugin, found through the ``flm`` entry-point group."""

from __future__ import annotations

from typing import Any

import flm_core


class FakeModel:
    """A model of the ``fake`` framework: just bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FakeModel) and other.data == self.data


def _dump(model: FakeModel) -> flm_core.Payload:
    return flm_core.Payload(write=lambda sink: sink.write(model.data),
                            info={"size": len(model.data)})


def _load(stream: Any, meta: flm_core.Metadata) -> FakeModel:
    return FakeModel(stream.read())


@flm_core.hookimpl
def flm_serializers() -> list[flm_core.Serializer]:
    return [flm_core.Serializer(
        name="fake",
        distribution="flm-fake",
        can_serialize=lambda obj: type(obj).__module__ == __name__,
        framework_version=lambda: "0.1.0",
        dump=_dump,
        load=_load,
    )]
