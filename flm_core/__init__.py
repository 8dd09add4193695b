"""FLM: one safe, checksummed, streamable file for a model, its metadata and artifacts.

The public names load on first use (PEP 562), so ``import flm_core`` stays cheap for tools
that only need part of it: ``read_meta`` never imports pluggy, and nothing imports a framework.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from flm_core.errors import (
    ArtifactError,
    ChecksumError,
    FLMError,
    FLMWarning,
    FormatError,
    FrameworkVersionWarning,
    InputError,
    LimitError,
    MetadataError,
    OptionError,
    PluginConflictError,
    PluginError,
    PluginLoadWarning,
    PluginNotFoundError,
    PredictionNotSupportedError,
    RemoteError,
    UnknownCodecError,
    UnsafeModelError,
)

if TYPE_CHECKING:
    __version__: str
    from flm_core.api import dump, load, read_meta, verify
    from flm_core.artifact import ModelArtifact
    from flm_core.hookspecs import hookimpl
    from flm_core.inference import predict
    from flm_core.limits import Limits
    from flm_core.meta import (
        FormatInfo,
        FrameworkInfo,
        Metadata,
        ModelInfo,
        PluginInfo,
        SectionInfo,
    )
    from flm_core.records import Codec, Payload, Serializer
    from flm_core.signature import Signature, TensorSpec

_LAZY = {
    "dump": "flm_core.api",
    "load": "flm_core.api",
    "read_meta": "flm_core.api",
    "verify": "flm_core.api",
    "ModelArtifact": "flm_core.artifact",
    "hookimpl": "flm_core.hookspecs",
    "predict": "flm_core.inference",
    "Limits": "flm_core.limits",
    "FormatInfo": "flm_core.meta",
    "FrameworkInfo": "flm_core.meta",
    "Metadata": "flm_core.meta",
    "ModelInfo": "flm_core.meta",
    "PluginInfo": "flm_core.meta",
    "SectionInfo": "flm_core.meta",
    "Codec": "flm_core.records",
    "Payload": "flm_core.records",
    "Serializer": "flm_core.records",
    "Signature": "flm_core.signature",
    "TensorSpec": "flm_core.signature",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":  # from the installed metadata, read on first use (~5 ms)
        from importlib.metadata import version

        globals()[name] = version("flm-core")
        return globals()[name]
    if name not in _LAZY:
        raise AttributeError(f"module 'flm_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "ArtifactError",
    "ChecksumError",
    "Codec",
    "FLMError",
    "FLMWarning",
    "FormatError",
    "FormatInfo",
    "FrameworkInfo",
    "FrameworkVersionWarning",
    "InputError",
    "LimitError",
    "Limits",
    "Metadata",
    "MetadataError",
    "ModelArtifact",
    "ModelInfo",
    "OptionError",
    "Payload",
    "PluginConflictError",
    "PluginError",
    "PluginInfo",
    "PluginLoadWarning",
    "PluginNotFoundError",
    "PredictionNotSupportedError",
    "RemoteError",
    "SectionInfo",
    "Serializer",
    "Signature",
    "TensorSpec",
    "UnknownCodecError",
    "UnsafeModelError",
    "dump",
    "hookimpl",
    "load",
    "predict",
    "read_meta",
    "verify",
]
