"""flm-core's own plugin: the built-in codecs, through the hook third parties use."""

from __future__ import annotations

from collections.abc import Iterable

from flm_core.codecs import BUILTIN_CODECS
from flm_core.hookspecs import hookimpl
from flm_core.records import Codec


@hookimpl
def flm_codecs() -> Iterable[Codec]:
    return BUILTIN_CODECS
