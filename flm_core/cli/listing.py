"""``flm plugins``: what each installed plugin provides, or why it failed to load."""

from __future__ import annotations

import warnings
from collections import defaultdict
from typing import Any

from flm_core.errors import PluginLoadWarning


def _version(distribution: str) -> str:
    from flm_core.api import _distribution_version

    return _distribution_version(distribution)


def _framework_version(serializer: Any) -> str:
    try:  # plugins read it without importing their framework; a missing one may raise
        return str(serializer.framework_version())
    except Exception as exc:
        return f"unavailable ({exc!r})"


def listing() -> dict[str, Any]:
    """Frameworks and codecs by name, with their distribution, and the plugins that failed."""
    from flm_core import plugins

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginLoadWarning)  # listed under "failed" instead
        registry = plugins.Registry.current()
    frameworks = {
        name: {"distribution": dist, "version": _version(dist),
               "framework_version": _framework_version(serializer)}
        for name, (serializer, dist) in sorted(registry.serializers.items())}
    codecs = {name: {"distribution": dist, "version": _version(dist)}
              for name, (_, dist) in sorted(registry.codecs.items())}
    return {"frameworks": frameworks, "codecs": codecs,
            "failed": dict(sorted(plugins.load_failures().items())),
            "disabled": sorted(plugins._disabled())}


def render_listing(found: dict[str, Any]) -> str:
    lines = ["frameworks:"]
    for name, info in found["frameworks"].items():
        lines.append(f"  {name:<12} {name} {info['framework_version']}, from "
                     f"{info['distribution']} {info['version']}")
    if not found["frameworks"]:
        lines.append("  none: install a plugin, e.g. pip install ./plugins/flm-sklearn")
    by_dist: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name, info in found["codecs"].items():
        by_dist[(info["distribution"], info["version"])].append(name)
    lines.append("codecs:")
    lines += [f"  {', '.join(names)}, from {dist} {version}"
              for (dist, version), names in by_dist.items()]
    if found["failed"]:
        lines.append("failed to load:")
        lines += [f"  {name:<12} {why}" for name, why in found["failed"].items()]
    if found["disabled"]:
        lines.append(f"disabled by FLM_DISABLE_PLUGINS: {', '.join(found['disabled'])}")
    return "\n".join(lines)
