"""One measurement per fresh subprocess, so peak RSS and import state start clean.

The parent calls :func:`run_child` with a JSON spec; the child (``python -m
benchmarks.measure SPEC``) restores the model, resets the kernel's peak-RSS mark, runs the
operation ``inner`` times and prints one ``BENCH-RESULT {json}`` line. Imported in both
venvs: no flm_core at module level.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MARK = "BENCH-RESULT "
ROOT = Path(__file__).resolve().parent.parent
PYCACHE = Path(tempfile.gettempdir()) / "flm-bench-pycache"


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so the peak covers only what follows:
    restoring the model from its cache must not count as the operation's memory."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_bytes() -> int:
    hwm = _status_kb("VmHWM")
    if hwm is None:  # not Linux: the whole process's peak, setup included
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return hwm * 1024


def rss_bytes() -> int:
    return (_status_kb("VmRSS") or 0) * 1024


BUDGET = 2.0  # seconds of repeats per operation per child: skops takes 0.5 s a call


def _timed(op: Any, inner: int) -> tuple[list[float], int, int, bool]:
    gc.collect()
    clean = reset_peak()
    before = rss_bytes()
    times: list[float] = []
    while len(times) < inner and (len(times) < 5 or sum(times[1:]) < BUDGET):
        start = time.perf_counter()
        result = op()
        times.append(time.perf_counter() - start)
        del result
    return times, before, peak_bytes(), clean


def child(spec: dict[str, Any]) -> dict[str, Any]:
    from benchmarks import peers, workloads

    w = workloads.WORKLOADS[spec["workload"]]
    out: dict[str, Any] = {}
    if spec["ops"] == ["prepare"]:
        out["weight_bytes"] = workloads.weight_bytes(w, workloads.prepare(w, spec["cache"]))
        return out
    if spec["ops"] == ["read_meta"]:
        import flm_core

        times, *_ = _timed(lambda: flm_core.read_meta(spec["path"]), spec["inner"])
        return {"read_meta": {"times": times}}
    method = peers.METHODS[spec["method"]]
    method.setup(w)  # the framework import is the user's cost, not the format's
    model = workloads.restore(w, spec["cache"]) if "dump" in spec["ops"] else None
    path = spec["path"]
    for op in spec["ops"]:
        if op == "dump":
            run = lambda: method.dump(w, model, path)  # noqa: E731
        else:
            run = lambda: method.load(w, path)  # noqa: E731
        times, before, peak, clean = _timed(run, spec["inner"])
        out[op] = {"times": times, "rss_before": before, "peak_rss": peak, "clean_peak": clean}
        if op == "dump":
            out["file_bytes"] = method.file_bytes(path)
    return out


def child_env() -> dict[str, str]:
    """The environment of a measuring child: the benchmarks importable, and bytecode cached.

    pip compiles an installed wheel's modules, but this checkout is installed editable; with
    PYTHONDONTWRITEBYTECODE set, every child would compile flm_core from source (~25 ms)
    and charge it to FLM's first call. One cache outside the tree serves both venvs."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("PYTHONWARNINGS", "ignore")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


def run_child(python: str, spec: dict[str, Any], timeout: float = 3600) -> dict[str, Any]:
    """Run one child; raise RuntimeError with its stderr tail if it fails."""
    proc = subprocess.run([python, "-m", "benchmarks.measure", json.dumps(spec)], env=child_env(),
                          capture_output=True, text=True, timeout=timeout, cwd=str(ROOT))
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)]
    if proc.returncode or not lines:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"child {spec.get('method')}/{spec['workload']}/{spec['ops']} "
                           f"failed ({proc.returncode}):\n{tail}")
    return json.loads(lines[-1][len(MARK):])  # type: ignore[no-any-return]


def median_time(times: list[float], warm: bool) -> float:
    """Warm: the median of in-process repeats after the first call (the seed's method for
    tiny models); cold: the first call in a fresh process, imports and plugin discovery in."""
    return statistics.median(times[1:] if warm and len(times) > 1 else times[:1])


def interpreter_startup(python: str, code: str, repeats: int) -> list[float]:
    """Wall times of ``python -c code``, each a fresh process."""
    env = dict(os.environ, PYTHONPATH="")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([python, "-c", code], env=env, check=True, cwd="/")
        times.append(time.perf_counter() - start)
    return times


def import_time(python: str, repeats: int) -> dict[str, float]:
    """Median ``import flm_core`` minus median bare start-up, interleaved against drift."""
    bare: list[float] = []
    flm: list[float] = []
    for _ in range(repeats):
        bare += interpreter_startup(python, "pass", 1)
        flm += interpreter_startup(python, "import flm_core", 1)
    return {"bare": statistics.median(bare), "flm": statistics.median(flm),
            "import": statistics.median(flm) - statistics.median(bare)}


if __name__ == "__main__":
    result = child(json.loads(sys.argv[1]))
    sys.stdout.flush()
    print(MARK + json.dumps(result), flush=True)
