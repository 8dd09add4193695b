"""FLM: one safe, checksummed, streamable file for a model, its metadata and artifacts."""

from flm_core.api import dump, load, read_meta, verify
from flm_core.artifact import ModelArtifact
from flm_core.errors import (
    ArtifactError,
    ChecksumError,
    FLMError,
    FLMWarning,
    FormatError,
    FrameworkVersionWarning,
    MetadataError,
    OptionError,
    PluginConflictError,
    PluginError,
    PluginLoadWarning,
    PluginNotFoundError,
    UnknownCodecError,
    UnsafeModelError,
)
from flm_core.hookspecs import hookimpl
from flm_core.meta import (
    FormatInfo,
    FrameworkInfo,
    Metadata,
    ModelInfo,
    PluginInfo,
    SectionInfo,
)
from flm_core.records import Codec, Payload, Serializer

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
    "SectionInfo",
    "Serializer",
    "UnknownCodecError",
    "UnsafeModelError",
    "dump",
    "hookimpl",
    "load",
    "read_meta",
    "verify",
]
