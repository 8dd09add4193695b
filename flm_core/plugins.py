"""The plugin host: a pluggy manager over the ``flm`` entry-point group, built once, lazily.

Built in a fixed order: block disabled plugins, load entry points (each load wrapped, so a
broken plugin warns instead of breaking the core), register the built-ins, check pending.
``FLM_DISABLE_PLUGINS=torch,sklearn`` blocks plugins by entry-point name.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from typing import Any, TypeVar

import attrs
import pluggy

from flm_core import builtin_plugin, hookspecs
from flm_core.errors import (
    PluginConflictError,
    PluginLoadWarning,
    PluginNotFoundError,
    UnknownCodecError,
)
from flm_core.records import Codec, Serializer

GROUP = "flm"
DISABLE_ENV = "FLM_DISABLE_PLUGINS"
BUILTIN = "flm-core"

_manager: pluggy.PluginManager | None = None
_distributions: dict[str, str] = {}
_versions: dict[str, str] = {}  # distribution name -> version, as discovery read them
_failures: dict[str, str] = {}  # entry-point name -> why it failed to load
# Each hook implementation's records, by id(impl), the impl kept alive beside them so the id
# cannot be reused: a registry built twice hands out the very same records, so a Serializer
# holding a fresh lambda (``framework_version=lambda: ...``) still compares equal to itself.
_records: dict[int, tuple[pluggy.HookImpl, tuple[Serializer | Codec, ...]]] = {}


def _disabled() -> set[str]:
    return {name.strip() for name in os.environ.get(DISABLE_ENV, "").split(",") if name.strip()}


def _name_and_version(dist: Any) -> tuple[str, str]:
    """``dist.name`` and ``dist.version`` parse the whole METADATA with the email package,
    whose import alone costs a fresh process's first dump ~1 ms; both are header lines."""
    name = version = None
    for line in (dist.read_text("METADATA") or "").splitlines():
        if not line:
            break  # the headers end at the first blank line
        if line.startswith("Name:"):
            name = line[5:].strip()
        elif line.startswith("Version:"):
            version = line[8:].strip()
    if name is None or version is None:
        return str(dist.name), str(dist.version)
    return name, version


def distribution_version(distribution: str) -> str | None:
    """The version of a plugin distribution as discovery found it, if it did."""
    return _versions.get(distribution)


def load_failures() -> dict[str, str]:
    """Why each plugin that failed to load did, by entry-point name (``flm plugins``)."""
    return dict(_failures)


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    import importlib.metadata  # ~40 ms with its email/zipfile imports; only plugin use needs it

    _failures.clear()
    # group= scans each distribution's entry_points.txt only: no metadata is parsed
    for ep in importlib.metadata.entry_points(group=GROUP):
        dist = ep.value
        if ep.dist is not None:
            dist, version = _name_and_version(ep.dist)
            _versions[dist] = version
        if pm.is_blocked(ep.name):
            continue
        if pm.has_plugin(ep.name):
            if _distributions.get(ep.name) == dist:
                continue  # the same distribution seen twice on sys.path
            raise PluginConflictError(
                f"two distributions register the flm plugin {ep.name!r}: "
                f"{_distributions.get(ep.name)} and {dist}; uninstall one or disable it "
                f"with {DISABLE_ENV}"
            )
        try:
            pm.register(ep.load(), name=ep.name)
            pm.check_pending()  # a misspelt flm_* hook: this plugin is broken, not the core
        except Exception as exc:  # a broken plugin must not break the core
            if pm.has_plugin(ep.name):
                pm.unregister(name=ep.name)
            _failures[ep.name] = f"{dist}: {exc!r}"
            warnings.warn(
                f"flm plugin {ep.name!r} from {dist} failed to load and was skipped: {exc!r}",
                PluginLoadWarning,
                stacklevel=2,
            )
            continue
        _distributions[ep.name] = dist


def build_plugin_manager(*, entry_points: bool = True) -> pluggy.PluginManager:
    """Build a fresh manager; :func:`get_plugin_manager` caches one."""
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    for name in _disabled():
        pm.set_blocked(name)
    if entry_points:
        _load_entry_points(pm)
    pm.register(builtin_plugin, name=BUILTIN)
    _distributions[BUILTIN] = BUILTIN
    pm.check_pending()
    return pm


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide manager, built on first use."""
    global _manager
    if _manager is None:
        _manager = build_plugin_manager()
    return _manager


def reset_plugin_manager() -> None:
    """Forget the cached manager (tests; after installing a plugin at run time)."""
    global _manager
    _manager = None
    _records.clear()


T = TypeVar("T", Serializer, Codec)
# The plugins this repository ships under plugins/: until they are on PyPI (where `flm-core`
# is another project), a clone is where they install from, so errors say both.
FIRST_PARTY = frozenset({"flm-sklearn", "flm-torch", "flm-tensorflow"})


# A model's top-level module -> the first-party plugin for it, to name in errors.
PLUGIN_FOR_MODULE = {"sklearn": "flm-sklearn", "torch": "flm-torch", "keras": "flm-tensorflow",
                     "tensorflow": "flm-tensorflow"}


def _plugin_hint(module: str) -> str:
    distribution = PLUGIN_FOR_MODULE.get(module.partition(".")[0])
    if distribution:
        return install_hint(distribution)
    return ("flm-sklearn, flm-torch and flm-tensorflow install from ./plugins/ of an FLM "
            "checkout; other frameworks need a third-party plugin")


def install_hint(distribution: str) -> str:
    """How to install ``distribution``, for error messages."""
    if distribution in FIRST_PARTY:
        return (f"`pip install ./plugins/{distribution}` from an FLM checkout "
                f"(`pip install {distribution}` once it is published)")
    return f"`pip install {distribution}`"


def _hook_records(impl: pluggy.HookImpl) -> tuple[Serializer | Codec, ...]:
    """Call a registration hook once per registered implementation; later calls reuse it."""
    cached = _records.get(id(impl))
    if cached is None:
        records: Iterable[Serializer | Codec] = impl.function() or ()  # type: ignore[assignment]
        cached = _records[id(impl)] = (impl, tuple(records))
    return cached[1]


def _collect(hook: pluggy.HookCaller, kind: str) -> dict[str, tuple[T, str]]:
    found: dict[str, tuple[T, str]] = {}
    for impl in reversed(hook.get_hookimpls()):
        owner = _distributions.get(impl.plugin_name, impl.plugin_name)
        records: Iterable[T] = _hook_records(impl)  # type: ignore[assignment]
        for record in records:
            if record.name in found:
                other = found[record.name][1]
                raise PluginConflictError(
                    f"two plugins provide the {kind} {record.name!r}: {other} and {owner}; "
                    f"uninstall one or disable it with {DISABLE_ENV}"
                )
            found[record.name] = (record, owner)
    return found


@attrs.frozen
class Registry:
    """The serializers and codecs the installed plugins provide, by name."""

    serializers: dict[str, tuple[Serializer, str]]
    codecs: dict[str, tuple[Codec, str]]

    @classmethod
    def current(cls) -> Registry:
        """The registry of the process-wide manager; each hook runs once per plugin."""
        pm = get_plugin_manager()
        return cls(
            serializers=_collect(pm.hook.flm_serializers, "framework"),
            codecs=_collect(pm.hook.flm_codecs, "codec"),
        )

    def codec(self, name: str) -> Codec:
        try:
            return self.codecs[name][0]
        except KeyError:
            valid = ", ".join(sorted(self.codecs))
            raise UnknownCodecError(f"unknown codec {name!r}; valid codecs: {valid}") from None

    def serializer_named(self, lib: str, distribution: str | None = None) -> Serializer:
        try:
            return self.serializers[lib][0]
        except KeyError:
            hint = install_hint(distribution or f"flm-{lib}")
            raise PluginNotFoundError(
                f"no installed plugin handles framework {lib!r}; {hint} to load it"
                f" ({self._installed()})"
            ) from None

    def serializer_for(self, model: object) -> Serializer:
        claims = [s for s, _ in self.serializers.values() if s.can_serialize(model)]
        if len(claims) == 1:
            return claims[0]
        kind = f"{type(model).__module__}.{type(model).__qualname__}"
        if not claims:
            raise PluginNotFoundError(
                f"no installed plugin can serialize a {kind} ({self._installed()}); "
                f"install the plugin for its framework: {_plugin_hint(type(model).__module__)}"
            )
        names = ", ".join(sorted(s.name for s in claims))
        raise PluginConflictError(
            f"several plugins claim a {kind}: {names}; pass framework=<name> to choose"
        )

    def _installed(self) -> str:
        if not self.serializers:
            return "no framework plugins are installed"
        listed = ", ".join(f"{name} ({dist})" for name, (_, dist) in sorted(
            self.serializers.items()))
        return f"installed: {listed}"
