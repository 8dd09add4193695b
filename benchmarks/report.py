"""docs/benchmarks.md and its figures, from one run's results."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from benchmarks import targets
from benchmarks.stats import (
    fmt_bytes,
    fmt_ratio,
    fmt_time,
    op_time,
    peak,
    ratio,
    read_meta_times,
    reps,
    row,
)

TINY = ("tiny-sklearn", "tiny-torch", "tiny-keras")
SCALING_METHODS = ("flm-zstd", "flm-none", "torch.export", "torch.save")


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
            *["| " + " | ".join(r) + " |" for r in rows], ""]


def _rows(results: dict[str, Any], workload: str) -> list[dict[str, Any]]:
    return [r for r in results["rows"] if r["workload"] == workload]


def tiny_table(results: dict[str, Any]) -> list[str]:
    rows = []
    for workload in TINY:
        for r in _rows(results, workload):
            rows.append([workload, r["method"], fmt_bytes(r["file_bytes"]),
                         fmt_time(op_time(r, "dump")), fmt_time(op_time(r, "load")),
                         fmt_time(op_time(r, "dump", False)), fmt_time(op_time(r, "load", False)),
                         f"{reps(r)}x{r['inner']}"])
    return _table(["model", "method", "file", "dump (warm)", "load (warm)", "dump (1st call)",
                   "load (1st call)", "n"], rows)


def big_table(results: dict[str, Any], workloads: list[str], base: dict[str, str]) -> list[str]:
    rows = []
    for workload in workloads:
        weights = results["weights"].get(workload)
        baseline = row(results, workload, base.get(workload, ""))
        for r in _rows(results, workload):
            d, lo = op_time(r, "dump"), op_time(r, "load")
            bd = op_time(baseline, "dump") if baseline else None
            bl = op_time(baseline, "load") if baseline else None
            rows.append([workload, r["method"], fmt_bytes(r["file_bytes"]),
                         fmt_ratio(ratio(r["file_bytes"], weights)), fmt_time(d),
                         fmt_ratio(ratio(d, bd)), fmt_time(lo), fmt_ratio(ratio(lo, bl)),
                         fmt_bytes(peak(r, "dump")), fmt_bytes(peak(r, "load")), str(reps(r))])
    return _table(["model", "method", "file", "file / weights", "dump", "dump vs base",
                   "load", "load vs base", "peak RSS dump", "peak RSS load", "n"], rows)


def read_meta_table(results: dict[str, Any]) -> list[str]:
    rows = []
    for workload, entry in sorted(results["read_meta"].items(), key=lambda e: e[1]["file_bytes"]):
        cold, warm = read_meta_times(results, workload)  # type: ignore[misc]
        rows.append([workload, fmt_bytes(entry["file_bytes"]), fmt_time(cold), fmt_time(warm),
                     str(len(entry["runs"]))])
    return _table(["model", "flm-zstd file", "read_meta (1st call)", "read_meta (warm)", "n"],
                  rows)


def first_call_table(results: dict[str, Any]) -> list[str]:
    from benchmarks.first_call import OPS, medians

    found = results.get("first_call")
    if not found:
        return []
    rows = []
    for method in found["methods"]:
        for op in OPS:
            m = medians(found, method, op)
            assert m is not None
            rows.append([method, op, fmt_time(m[0]), fmt_time(m[1]), fmt_time(sum(m)),
                         str(found["reps"])])
    return ["## First call in a fresh process (tiny-sklearn)", "",
            "What a CLI call or a serverless cold start pays: `python -m benchmarks.first_call`. "
            "Each figure is the median over fresh processes that import sklearn and restore the "
            "model first (not timed), then time the library's import and its first call; FLM "
            "and flama alternate. FLM's import is lazy, so its deferred imports and plugin "
            f"discovery land in the first call. `python -c pass`: "
            f"{fmt_time(statistics.median(found['startup']))}.", "",
            *_table(["method", "op", "import", "first call", "both", "n"], rows)]


def _scaling(results: dict[str, Any]) -> list[tuple[float, str]]:
    return sorted((results["weights"][w], w) for w in results["weights"]
                  if w.startswith("torch-") and _rows(results, w))


def plot(results: dict[str, Any], docs: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    written = []
    scaling = _scaling(results)
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    panels = [("dump", "dump time (s)"), ("load", "load time (s)"), ("file", "file / weights"),
              ("peak-dump", "peak RSS during dump (GB)"),
              ("peak-load", "peak RSS during load (GB)")]
    for ax, (what, label) in zip(axes.flat, panels, strict=False):  # the 6th is read_meta
        for method in SCALING_METHODS:
            xs, ys = [], []
            for size, w in scaling:
                r = row(results, w, method)
                if not r:
                    continue
                if what in ("dump", "load"):
                    y = op_time(r, what)
                elif what == "file":
                    y = r["file_bytes"] / size
                else:
                    p = peak(r, what.split("-")[1])
                    y = None if p is None else p / 1e9
                if y is not None:
                    xs.append(size / 1e6)
                    ys.append(y)
            if xs:
                ax.plot(xs, ys, marker="o", label=method)
        ax.set(xlabel="torch MLP weights (MB)", ylabel=label, xscale="log")
        ticks = [size / 1e6 for size, _ in scaling]
        ax.set_xticks(ticks, [f"{t:.0f}" for t in ticks])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    ax = axes.flat[5]
    entries = sorted((e["file_bytes"], w) for w, e in results["read_meta"].items())
    if entries:
        xs = [b / 1e6 for b, _ in entries]
        times = [read_meta_times(results, w) for _, w in entries]
        ax.plot(xs, [t[0] * 1e3 for t in times], marker="o", label="1st call")  # type: ignore[index]
        ax.plot(xs, [t[1] * 1e3 for t in times], marker="o", label="warm")  # type: ignore[index]
        ax.axhline(5, color="red", ls="--", lw=1, label="5 ms target")
        ax.legend(fontsize=8)
    ax.set(xlabel="flm-zstd file (MB)", ylabel="read_meta (ms)", xscale="log", yscale="log")
    ax.grid(alpha=0.3)
    fig.suptitle(f"FLM vs native torch savers as the model grows ({results['mode']} run, "
                 "medians of fresh processes)")
    fig.tight_layout()
    path = docs / "benchmarks.png"
    fig.savefig(path, dpi=90)
    written.append(path)
    plt.close(fig)

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    tiny_panels = [("dump", "dump, warm (ms)"), ("load", "load, warm (ms)"), ("file", "file (KB)")]
    for ax, (what, label) in zip(axes, tiny_panels, strict=True):
        labels, values = [], []
        for workload in TINY:
            for r in _rows(results, workload):
                value = op_time(r, what) if what != "file" else r["file_bytes"] / 1e3
                if value is not None:
                    labels.append(f"{workload[5:]} {r['method']}")
                    values.append(value * 1e3 if what != "file" else value)
        colors = ["tab:blue" if lab.split()[1].startswith("flm") else
                  "tab:orange" if "flama" in lab else "tab:gray" for lab in labels]
        ax.barh(labels, values, color=colors)
        ax.set(xlabel=label, xscale="log")
        ax.tick_params(axis="y", labelsize=7)
        ax.invert_yaxis()
    fig.suptitle("Tiny XOR models: FLM (blue), flama 2.2.2 (orange), native savers (grey)")
    fig.tight_layout()
    path = docs / "benchmarks-tiny.png"
    fig.savefig(path, dpi=90)
    written.append(path)
    plt.close(fig)
    return written


def markdown(results: dict[str, Any], images: list[Path]) -> str:
    m, v = results["machine"], results["versions"]
    bench, flama = v.get("bench", {}), v.get("flama", {})
    lines = [
        "# Benchmarks", "",
        f"Generated by `{results['command']}` (or `nox -s bench"
        f"{' -- --full' if results['mode'] == 'full' else ''}`) on {results['date']}, "
        f"{results['seconds'] / 60:.1f} minutes. Do not edit by hand; rerun it.", "",
        "**flama 2.2.2** is the release of the Flama web framework whose model files "
        "(`flama.dump`/`flama.load`) FLM replaces; **the seed** is the brief this project "
        "started from, which set FLM against them with its XOR example models (scikit-learn, "
        "PyTorch, Keras) and a table of flama's timings.", "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}, "
        f"no GPU; shared, so timings are noisy (load average {m['load_before']:.1f} at start). "
        "Every figure is a median over fresh processes, one per measurement; each is "
        "compared with baselines measured in the same run, minutes apart.", "",
        f"Versions: Python {bench.get('python')}, flm-core {bench.get('flm-core')}, torch "
        f"{bench.get('torch')}, scikit-learn {bench.get('scikit-learn')}, keras "
        f"{bench.get('keras')}, tensorflow-cpu {bench.get('tensorflow-cpu')}, zstandard "
        f"{bench.get('zstandard')}; flama {flama.get('flama', 'not installed')} in its own venv "
        f"(scikit-learn {flama.get('scikit-learn')}, torch {flama.get('torch')}, keras "
        f"{flama.get('keras')}).", "",
        "How: each model is built once per venv with fixed seeds and saved with its "
        "framework's saver; every measuring process restores it, imports the framework "
        "(not timed: the user pays it whatever the format), resets the kernel's peak-RSS mark "
        "(`/proc/self/clear_refs`), then times the operation. Dumps write to the page cache; "
        "loads read a file just written. FLM runs with its defaults (both cores, atomic "
        "fsync'd write). `n` is the number of processes; `3x20` means 3 processes of 20 calls.",
        "", "## Targets", "",
    ]
    lines += _table(["target", "verdict", "figures"],
                    [[t.name, f"**{t.verdict}**", t.figures] for t in targets.evaluate(results)])
    lines += ["## Tiny models (the seed's XOR models)", "",
              "Warm: median of the calls after the first in one process (how the seed's table "
              "was measured); 1st call: a fresh process's first call, lazy imports and plugin "
              "discovery included (torch.export's first call compiles). The seed published "
              "flama zstd at 20.5 KB / dump 2.2 ms / load 1.0 ms; an earlier run on this "
              "machine gave 16.7 KB / 3.0 ms / 0.8 ms.", ""]
    lines += tiny_table(results)
    lines += first_call_table(results)
    lines += ["## Medium models", "", "Baseline: pickle (sklearn), model.save (keras).", ""]
    lines += big_table(results, ["medium-sklearn", "medium-keras"],
                       {"medium-sklearn": "pickle", "medium-keras": "keras"})
    scaling = [w for _, w in _scaling(results)]
    lines += ["## Large torch models", "",
              "Baseline: `torch.export.export` + `torch.export.save`, "
              "`torch.export.load(...).module()`. `torch.save` saves the state dict "
              "(load: `torch.load(weights_only=True)` into a meta-device skeleton). "
              "Weights are default-initialised (uniform) float32: compressible only in "
              "their exponent bytes.", "",
              "Where FLM's load is slower, the difference is what FLM checks and torch.export "
              "does not: the crc32 of every block before it is decoded and the sha256 of "
              "every byte, recomputed against the trailer (docs/security.md), plus "
              "decompression for zstd. `python benchmarks/digest_cost.py` measures the "
              "digest's share, and BLAKE3 in its place. Both loaders import torch's export "
              "deserializer (about 1.1 s here); FLM decodes the weights while that import "
              "runs, but the import holds the GIL, so the overlap is partial.", ""]
    lines += big_table(results, scaling, {w: "torch.export" for w in scaling})
    lines += ["## read_meta as the file grows", ""]
    lines += read_meta_table(results)
    imp = results.get("import")
    if imp:
        lines += ["## import flm_core", "",
                  f"`python -c 'import flm_core'` {fmt_time(imp['flm'])} minus `python -c pass` "
                  f"{fmt_time(imp['bare'])} = **{fmt_time(imp['import'])}** (medians, "
                  "interleaved).", ""]
    lines += ["## Figures", "", *[f"![{p.stem}]({p.name})" for p in images], ""]
    if results["failures"]:
        lines += ["## Not measured", ""]
        lines += [f"- {f['what']}: `{f['error'].strip().splitlines()[-1][:300]}`"
                  for f in results["failures"]]
        lines.append("")
    return "\n".join(lines)


def write(results: dict[str, Any], docs: Path) -> str:
    """Write benchmarks.md and the PNGs into ``docs``; return the text to print."""
    docs.mkdir(parents=True, exist_ok=True)
    images = plot(results, docs)
    text = markdown(results, images)
    (docs / "benchmarks.md").write_text(text)
    return text
