"""``flm inspect``'s human-readable tree of a file's metadata."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flm_core.meta import Metadata, SectionInfo

WIDTH = 11  # label column


def size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _value(value: Any) -> str:
    if isinstance(value, str) and value and value.strip() == value:
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _field(label: str, text: str, indent: int = 0) -> str:
    pad = " " * indent
    return f"{pad}{label:<{WIDTH - indent}} {text}".rstrip()


def _mapping(label: str, mapping: Mapping[str, Any], indent: int = 0) -> list[str]:
    if not mapping:
        return [_field(label, "none", indent)]
    items = [f"{key}: {_value(value)}" for key, value in mapping.items()]
    return [_field(label, items[0], indent), *(_field("", item, indent) for item in items[1:])]


def _section(section: SectionInfo) -> str:
    name = f"{section.kind} {section.name}" if section.name else section.kind
    return (f"  {name}: {size(section.raw_size)} raw, {size(section.stored_size)} stored "
            f"({section.codec}), {plural(section.blocks, 'block')}, offset {section.offset}")


def _signature(meta: Metadata) -> list[str]:
    signature = meta.model.signature
    if signature is None:
        return [_field("signature", "none (any input)", 2)]
    lines = [_field("signature", "", 2)]
    for kind, specs in (("inputs", signature.inputs), ("outputs", signature.outputs)):
        items = [f"{s.name}: {s.describe()}" for s in specs] or ["unknown"]
        lines += [_field(kind if i == 0 else "", item, 4) for i, item in enumerate(items)]
    return lines


def render(meta: Metadata, name: str, file_size: int | None = None) -> str:
    """The tree ``flm inspect`` prints, one fact a line."""
    fmt = meta.format
    lines = [_field("file", name + (f" ({size(file_size)})" if file_size is not None else "")),
             _field("id", str(meta.id)),
             _field("timestamp", meta.timestamp.isoformat()),
             _field("framework", f"{meta.framework.lib} {meta.framework.version} "
                                 f"(written by {meta.plugin.distribution} "
                                 f"{meta.plugin.version})"),
             _field("model", meta.model.obj),
             *_mapping("info", meta.model.info, 2),
             *_mapping("params", meta.model.params, 2),
             *_mapping("metrics", meta.model.metrics, 2),
             *_signature(meta),
             *_mapping("extra", meta.extra),
             _field("codec", f"{fmt.codec} (format version {fmt.version})")]
    if fmt.sections:
        raw = sum(s.raw_size for s in fmt.sections)
        stored = sum(s.stored_size for s in fmt.sections)
        lines.append(_field("sections", f"{plural(len(fmt.sections), 'section')}, "
                                        f"{size(raw)} raw, {size(stored)} stored"))
        lines += [_section(s) for s in fmt.sections]
    sizes = {s.name: s.raw_size for s in fmt.sections if s.kind == "artifact"}
    listed = ", ".join(f"{a} ({size(sizes[a])})" if a in sizes else a for a in fmt.artifacts)
    lines.append(_field("artifacts", f"{plural(len(fmt.artifacts), 'artifact')}"
                                     + (f": {listed}" if listed else "")))
    digest = meta.model_digest
    lines.append(_field("digest", f"sha256:{digest} (model payload)" if digest else "unknown"))
    return "\n".join(lines)
