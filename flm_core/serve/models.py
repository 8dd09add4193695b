"""The models a server holds: each loaded once, at startup, through its plugin.

``NAME=FILE`` names a model; a bare ``FILE`` (a path or a URL) is named after its stem.
Every model loads before the server answers: one that fails raises, naming its file, and
the server never starts half up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Any

import attrs

from flm_core.errors import FLMError
from flm_core.inference import Predictor
from flm_core.serve.codec import metadata_tensor

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
RESERVED = frozenset({"v2", "docs", "schema", "openapi.json"})


class ServeError(FLMError):
    """A model cannot be served: a bad name, two models with one name, a file that fails to
    load. The message names the file."""


@attrs.frozen
class ServedModel:
    """One model: its route name, where it came from, its predictor, and the loaded
    artifact (kept open: it owns the directory its artifact files were unpacked into)."""

    name: str
    source: str
    predictor: Predictor
    artifact: Any  # flm_core.ModelArtifact

    @property
    def meta(self) -> Any:
        return self.artifact.meta

    def oip_metadata(self) -> dict[str, Any]:
        """The Open Inference Protocol's model metadata, built from the signature."""
        signature = self.predictor.signature
        return {
            "name": self.name,
            "versions": [],
            "platform": f"flm-{self.meta.framework.lib}",
            "inputs": [metadata_tensor(s) for s in signature.inputs] if signature else [],
            "outputs": [metadata_tensor(s) for s in signature.outputs] if signature else [],
        }

    def flama_metadata(self) -> dict[str, Any]:
        """What ``GET /{name}/`` returns, shaped as flama's model resource answers it."""
        files = {name: str(path) for name, path in self.artifact.artifacts.items()}
        return {"meta": self.meta.to_dict(), "artifacts": files}


def parse_spec(spec: str) -> tuple[str, str]:
    """``NAME=FILE`` or ``FILE`` -> ``(name, file)``; a URL's ``=`` in a query is kept."""
    head, sep, rest = spec.partition("=")
    if sep and NAME.fullmatch(head) and "/" not in head:
        name, source = head, rest
    else:
        source = spec
        name = PurePosixPath(source.split("?", 1)[0].rstrip("/")).stem
    if not NAME.fullmatch(name) or name in RESERVED:
        raise ServeError(f"{spec}: {name!r} cannot name a route (letters, digits, _ . -; "
                         f"not {', '.join(sorted(RESERVED))}); give it as NAME={source}")
    return name, source


def _shown(source: str) -> str:
    """A URL without user, password or query (signed URLs carry keys there), for logs."""
    if "://" not in source:
        return source
    from flm_core.remote import is_url, redact

    return redact(source) if is_url(source) else source


def load_models(specs: Iterable[str], **load_options: Any) -> dict[str, ServedModel]:
    """Load every model, or raise :class:`ServeError` naming the file that failed."""
    from flm_core.api import load

    named: dict[str, str] = {}
    for spec in specs:  # every name is checked before any file is read
        name, source = parse_spec(spec)
        if name in named:
            raise ServeError(f"two models are named {name!r} ({_shown(named[name])} and "
                             f"{_shown(source)}); "
                             f"name them NAME=FILE")
        named[name] = source
    models: dict[str, ServedModel] = {}
    try:
        for name, source in named.items():
            shown = _shown(source)
            try:
                artifact = load(source, **load_options)
            except (FLMError, OSError) as exc:
                raise ServeError(f"{shown}: {exc}") from exc
            predictor = Predictor.from_artifact(artifact, source=shown)
            models[name] = ServedModel(name, shown, predictor, artifact)
    except BaseException:
        close_models(models)
        raise
    return models


def close_models(models: dict[str, ServedModel]) -> None:
    """Remove the models' unpacked artifacts (at shutdown)."""
    for model in models.values():
        model.artifact.close()
    models.clear()
