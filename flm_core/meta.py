"""Metadata: the seed's tree (id, timestamp, framework, model, extra) plus the format facts."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from flm_core.errors import FormatError
from flm_core.signature import Signature, as_signature

FORMAT_VERSION = 1


@attrs.frozen
class FrameworkInfo:
    """The framework that made the model: ``lib`` (e.g. ``"torch"``) and its ``version``."""

    lib: str
    version: str


@attrs.frozen
class PluginInfo:
    """The plugin distribution that wrote the payload, e.g. ``flm-torch`` ``0.1.0``."""

    distribution: str
    version: str


@attrs.frozen
class ModelInfo:
    """``obj`` (the model's class), ``info`` (framework description), ``params``, ``metrics``,
    and ``signature``: what the model takes and returns, or None where it is not known."""

    obj: str
    info: Mapping[str, Any] = attrs.field(factory=dict)
    params: Mapping[str, Any] = attrs.field(factory=dict)
    metrics: Mapping[str, Any] = attrs.field(factory=dict)
    signature: Signature | None = attrs.field(default=None, converter=as_signature)


@attrs.frozen
class SectionInfo:
    """One section of the file: the model payload or an artifact.

    ``offset`` is where the section header starts; ``raw_size`` and ``stored_size`` are the
    payload bytes before and after compression; ``sha256`` is the digest of the raw bytes.
    """

    kind: str
    name: str
    codec: str
    offset: int
    raw_size: int
    stored_size: int
    blocks: int
    sha256: str


def _str_tuple(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


def _section_tuple(values: Iterable[SectionInfo]) -> tuple[SectionInfo, ...]:
    return tuple(values)


@attrs.frozen
class FormatInfo:
    """Container facts: format ``version``, default ``codec``, ``artifacts`` and ``sections``.

    ``sections`` is empty for metadata read from a file's head only.
    """

    version: int
    codec: str
    artifacts: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    sections: tuple[SectionInfo, ...] = attrs.field(default=(), converter=_section_tuple)


@attrs.frozen
class Metadata:
    """Everything an FLM file says about its model, readable without any framework."""

    id: uuid.UUID
    timestamp: datetime.datetime
    framework: FrameworkInfo
    model: ModelInfo
    plugin: PluginInfo
    format: FormatInfo
    extra: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def model_section(self) -> SectionInfo | None:
        return next((s for s in self.format.sections if s.kind == "model"), None)

    @property
    def model_digest(self) -> str | None:
        """sha256 of the uncompressed model payload: equal digests mean equal payloads."""
        section = self.model_section
        return section.sha256 if section else None

    def to_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self, recurse=True)
        # absent rather than null: a file without a signature reads as it did before signatures
        data["model"].pop("signature")
        if self.model.signature is not None:
            data["model"]["signature"] = self.model.signature.to_dict()
        data["id"] = str(self.id)
        data["timestamp"] = self.timestamp.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Metadata:
        """Build from :meth:`to_dict` output; malformed input raises :class:`FormatError`."""
        from flm_core.schema import check_metadata

        check_metadata(data)
        try:
            fmt = data["format"]
            return cls(
                id=uuid.UUID(data["id"]),
                timestamp=datetime.datetime.fromisoformat(data["timestamp"]),
                framework=FrameworkInfo(**data["framework"]),
                model=ModelInfo(**data["model"]),
                plugin=PluginInfo(**data["plugin"]),
                format=FormatInfo(
                    version=fmt["version"],
                    codec=fmt["codec"],
                    artifacts=fmt.get("artifacts", ()),
                    sections=[SectionInfo(**s) for s in fmt.get("sections", ())],
                ),
                extra=data.get("extra", {}),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise FormatError(f"malformed metadata: {exc!r}") from exc
