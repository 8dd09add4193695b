"""Medians out of raw per-child results; shared by the targets and the report."""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.measure import median_time

MiB = 1024 * 1024


def row(results: dict[str, Any], workload: str, method: str) -> dict[str, Any] | None:
    for r in results["rows"]:
        if r["workload"] == workload and r["method"] == method:
            return r  # type: ignore[no-any-return]
    return None


def op_time(r: dict[str, Any], op: str, warm: bool | None = None) -> float | None:
    """Median over children. Tiny rows (inner > 1) default to the warm in-process median."""
    runs = r.get(op) or []
    if not runs:
        return None
    if warm is None:
        warm = r.get("inner", 1) > 1
    if warm and r.get("inner", 1) < 2:
        return None
    return statistics.median(median_time(run["times"], warm) for run in runs)


def peak(r: dict[str, Any], op: str) -> float | None:
    runs = r.get(op) or []
    return statistics.median(run["peak_rss"] for run in runs) if runs else None


def reps(r: dict[str, Any]) -> int:
    return max(len(r.get("dump") or []), len(r.get("load") or []))


def read_meta_times(results: dict[str, Any], workload: str) -> tuple[float, float] | None:
    """(cold, warm) medians of read_meta on the workload's flm-zstd file."""
    entry = results["read_meta"].get(workload)
    if not entry:
        return None
    cold = statistics.median(run["times"][0] for run in entry["runs"])
    warm = statistics.median(statistics.median(run["times"][1:]) for run in entry["runs"])
    return cold, warm


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


def fmt_time(t: float | None) -> str:
    if t is None:
        return "-"
    if t >= 1:
        return f"{t:.2f} s"
    if t >= 0.01:
        return f"{t * 1e3:.0f} ms"
    return f"{t * 1e3:.2f} ms"


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def fmt_ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}x"
