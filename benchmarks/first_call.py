"""First-call cost: a fresh process's first dump and first load of the tiny sklearn XOR model.

This is what a CLI call or a serverless cold start pays. Every figure is one fresh child
that imports the framework first (not timed: the user pays it whatever the format), then
times the library's import and its first call separately. FLM and flama children alternate,
so drift on a shared machine hits both alike.

    python -m benchmarks.first_call [--reps 15] [--flama-python PATH]

Imported in both venvs: no flm_core at module level.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import measure

WORKLOAD = "tiny-sklearn"
METHODS = ("flm-zstd", "flama-zstd")
OPS = ("dump", "load")
PARTS = ("import", "call", "import_cpu", "call_cpu")


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """One fresh process: import the framework, restore the model, then time the library's
    import and its first ``dump`` or ``load``."""
    from benchmarks import peers, workloads

    w = workloads.WORKLOADS[spec["workload"]]
    method = peers.METHODS[spec["method"]]
    method.hide_unused(w)  # as the main bench does: flama's sklearn runs skip torch and TF
    for module in peers.FRAMEWORK_MODULES[w.framework]:
        importlib.import_module(module)
    model = workloads.restore(w, spec["cache"])  # for loads too: it imports the model's modules
    # CPU time beside wall time: on a shared machine the wall clock also counts the waits
    start, start_cpu = time.perf_counter(), time.process_time()
    for module in method.imports:
        importlib.import_module(module)
    imported, imported_cpu = time.perf_counter(), time.process_time()
    if spec["op"] == "dump":
        method.dump(w, model, spec["path"])
    else:
        method.load(w, spec["path"])
    done, done_cpu = time.perf_counter(), time.process_time()
    return {"import": imported - start, "call": done - imported,
            "import_cpu": imported_cpu - start_cpu, "call_cpu": done_cpu - imported_cpu}


def measure_all(pythons: dict[str, str | None], work: Path, reps: int) -> dict[str, Any]:
    """``{method: {op: {"import": [...], "call": [...]}}}`` over ``reps`` fresh children each,
    plus ``python -c pass`` start-up times as the baseline."""
    from benchmarks import peers

    out: dict[str, Any] = {"reps": reps, "methods": {}}
    ready = []
    for name in METHODS:
        python = pythons[peers.METHODS[name].venv]
        if python is None:
            continue
        cache = work / f"first-{name}.pkl"
        measure.run_child(python, {"workload": WORKLOAD, "ops": ["prepare"],
                                   "cache": str(cache)})
        path = work / f"first-{name}.flm"
        spec = {"workload": WORKLOAD, "method": name, "cache": str(cache), "path": str(path)}
        for op in OPS:  # warm-up: writes the file loads read, and every module's bytecode
            _run(python, {**spec, "op": op})
        ready.append((name, python, spec))
        out["methods"][name] = {op: {part: [] for part in PARTS} for op in OPS}
    for _ in range(reps):
        for name, python, spec in ready:
            for op in OPS:
                result = _run(python, {**spec, "op": op})
                for part in PARTS:
                    out["methods"][name][op][part].append(result[part])
    out["startup"] = measure.interpreter_startup(sys.executable, "pass", reps)
    return out


def _run(python: str, spec: dict[str, Any]) -> dict[str, Any]:
    env = measure.child_env()
    proc = subprocess.run([python, "-m", "benchmarks.first_call", "--child", json.dumps(spec)],
                          env=env, capture_output=True, text=True, timeout=600,
                          cwd=str(measure.ROOT))
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(measure.MARK)]
    if proc.returncode or not lines:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"first-call child {spec} failed ({proc.returncode}):\n{tail}")
    return json.loads(lines[-1][len(measure.MARK):])  # type: ignore[no-any-return]


def medians(results: dict[str, Any], method: str, op: str,
            cpu: bool = False) -> tuple[float, float] | None:
    """(import, first call) medians in seconds, wall or CPU time; None if not measured."""
    entry = results.get("methods", {}).get(method)
    if not entry:
        return None
    suffix = "_cpu" if cpu else ""
    return (statistics.median(entry[op]["import" + suffix]),
            statistics.median(entry[op]["call" + suffix]))


def summary(results: dict[str, Any]) -> str:
    lines = [f"python -c pass: {statistics.median(results['startup']) * 1e3:.1f} ms "
             f"(median of {results['reps']})"]
    for method in results["methods"]:
        for op in OPS:
            wall, cpu = medians(results, method, op), medians(results, method, op, cpu=True)
            assert wall is not None and cpu is not None
            lines.append(f"{method:11s} {op}: import {wall[0] * 1e3:6.1f} ms, first call "
                         f"{wall[1] * 1e3:5.1f} ms (CPU: import {cpu[0] * 1e3:6.1f} ms, "
                         f"first call {cpu[1] * 1e3:5.1f} ms)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.first_call", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--flama-python", default=os.environ.get(
        "FLM_BENCH_FLAMA_PYTHON", "/work/venv-flama/bin/python"))
    args = parser.parse_args(argv)
    if args.child:
        result = child(json.loads(args.child))
        print(measure.MARK + json.dumps(result), flush=True)
        return 0
    flama = args.flama_python if Path(args.flama_python).exists() else None
    with tempfile.TemporaryDirectory(prefix="flm-first-call-") as work:
        results = measure_all({"bench": sys.executable, "flama": flama}, Path(work), args.reps)
    print(summary(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
