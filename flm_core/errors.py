"""The one exception family of flm_core, and its warnings."""

from __future__ import annotations


class FLMError(Exception):
    """Base class of every error flm_core raises on purpose."""


class FormatError(FLMError, ValueError):
    """The bytes are not a valid FLM file: wrong magic, newer format, truncated, malformed."""


class ChecksumError(FormatError):
    """A checksum or digest recorded in the file does not match the bytes read."""


class MetadataError(FLMError, ValueError):
    """Metadata given to ``dump`` is unusable: not JSON-serialisable, a bad id or timestamp."""


class UnknownCodecError(FLMError, ValueError):
    """A codec name that no installed codec (built-in or plugin) provides."""


class PluginError(FLMError):
    """A plugin is missing, ambiguous or misbehaving."""


class PluginNotFoundError(PluginError, LookupError):
    """No installed plugin can handle the model or the file; the message says what to install."""


class PluginConflictError(PluginError):
    """Two plugins claim the same framework or codec name."""


class UnsafeModelError(FLMError):
    """The payload references code the loader does not trust; nothing was executed."""


class ArtifactError(FLMError, ValueError):
    """An artifact name or file is unacceptable (path separators, ``..``, missing file, ...)."""


class OptionError(FLMError, TypeError):
    """An option was passed that the chosen serializer does not accept."""


class RemoteError(FLMError, OSError):
    """A URL could not be read or written: fsspec or its backend missing, no such bucket or
    object, credentials refused, network. The message names the URL without credentials."""


class LimitError(FormatError):
    """Reading the file would exceed a :class:`flm_core.Limits` bound: too big, too many
    artifacts, too deeply nested, or expanding far more than its compressed bytes."""


class FLMWarning(UserWarning):
    """Base class of flm_core warnings."""


class FrameworkVersionWarning(FLMWarning):
    """The installed framework's major.minor differs from the one that wrote the file."""


class PluginLoadWarning(FLMWarning):
    """A plugin failed to import or register and was skipped."""


class InputError(FLMError, ValueError):
    """Inputs given to a model do not match its signature: a wrong number of features, a
    wrong rank, a non-numeric value or a wrong dtype. The message says what was expected."""


class PredictionNotSupportedError(PluginError):
    """The model's plugin implements no ``predict``: it dumps and loads, but cannot serve."""
