"""``python -m benchmarks [--quick | --full]``: run the plan, write docs/benchmarks.md + PNGs.

    python -m benchmarks --quick            a few minutes; what `nox -s bench` runs
    python -m benchmarks --full             every codec, flama on 400 MB, 50 MB..1.6 GB
    python -m benchmarks --report RESULTS   redo the report from a saved results.json

The flama 2.2.2 peer runs in its own venv (``--flama-python``, default $FLM_BENCH_FLAMA_PYTHON
or /work/venv-flama/bin/python); without it the flama rows are reported as missing.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import first_call, measure, peers, plan, report
from benchmarks.workloads import WORKLOADS

DOCS = Path(__file__).resolve().parent.parent / "docs"
VERSION_DISTS = ("flm-core", "flm-sklearn", "flm-torch", "flm-tensorflow", "flama", "torch",
                 "scikit-learn", "keras", "tensorflow-cpu", "numpy", "joblib", "skops",
                 "zstandard")


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def versions(python: str) -> dict[str, str]:
    code = ("import importlib.metadata as m, json, sys\n"
            f"d = {{}}\nfor n in {VERSION_DISTS!r}:\n"
            "    try: d[n] = m.version(n)\n    except m.PackageNotFoundError: pass\n"
            "d['python'] = sys.version.split()[0]\nprint(json.dumps(d))")
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem / 2**30, 1),
            "kernel": platform.release(), "system": platform.platform(terse=True),
            "load_before": os.getloadavg()[0]}


class Runner:
    def __init__(self, pythons: dict[str, str | None], work: Path) -> None:
        self.pythons, self.work = pythons, work
        self.caches: dict[tuple[str, str], Path] = {}
        self.results: dict[str, Any] = {"rows": [], "read_meta": {}, "weights": {},
                                        "failures": []}

    def _fail(self, what: str, exc: BaseException) -> None:
        self.results["failures"].append({"what": what, "error": str(exc)[-1500:]})
        _log(f"FAILED {what}: {str(exc).splitlines()[0] if str(exc) else exc!r}")

    def cache(self, workload: str, venv: str) -> Path | None:
        key = (workload, venv)
        if key not in self.caches:
            python = self.pythons[venv]
            path = self.work / f"cache-{venv}-{workload}{WORKLOADS[workload].cache_suffix}"
            assert python is not None
            _log(f"building {workload} in the {venv} venv")
            out = measure.run_child(python, {"workload": workload, "ops": ["prepare"],
                                             "cache": str(path)})
            if venv == "bench":
                self.results["weights"][workload] = out["weight_bytes"]
            self.caches[key] = path
        return self.caches[key]

    def drop_caches(self, workload: str) -> None:
        for key in [k for k in self.caches if k[0] == workload]:
            self.caches.pop(key).unlink(missing_ok=True)

    def run_case(self, case: plan.Case) -> None:
        for name in case.methods:
            method = peers.METHODS[name]
            python = self.pythons[method.venv]
            if python is None:
                self._fail(f"{name} on {case.workload}", RuntimeError(
                    f"no {method.venv} interpreter (see --flama-python)"))
                continue
            try:
                cache = self.cache(case.workload, method.venv)
                if method.venv == "flama" and case.workload not in self.results["weights"]:
                    self.cache(case.workload, "bench")  # the yardstick comes from the bench venv
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                self._fail(f"building {case.workload} for {name}", exc)
                continue
            path = self.work / f"out-{case.workload}-{name}{peers.suffix(name)}"
            row: dict[str, Any] = {"workload": case.workload, "method": name,
                                   "inner": case.inner, "dump": [], "load": []}
            spec = {"workload": case.workload, "method": name, "cache": str(cache),
                    "path": str(path), "inner": case.inner}
            ops_runs = [["dump"], ["load"]] if case.split else [["dump", "load"]]
            reps = case.reps_for(name)
            _log(f"{case.workload:15s} {name:13s} x{reps}")
            try:
                for ops in ops_runs:
                    for _ in range(reps):
                        out = measure.run_child(python, {**spec, "ops": ops})
                        for op in ops:
                            row[op].append(out[op])
                        row["file_bytes"] = out.get("file_bytes", row.get("file_bytes"))
                self.results["rows"].append(row)
                if name == "flm-zstd":
                    self.read_meta(case, path, reps)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                self._fail(f"{name} on {case.workload}", exc)
            finally:
                path.unlink(missing_ok=True)

    def read_meta(self, case: plan.Case, path: Path, reps: int) -> None:
        python = self.pythons["bench"]
        assert python is not None
        runs = [measure.run_child(python, {"workload": case.workload, "ops": ["read_meta"],
                                           "path": str(path), "inner": plan.read_meta_inner()})
                for _ in range(reps)]
        self.results["read_meta"][case.workload] = {
            "file_bytes": path.stat().st_size, "runs": [r["read_meta"] for r in runs]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="the default")
    mode.add_argument("--full", action="store_true")
    mode.add_argument("--report", metavar="RESULTS", help="only rebuild the report")
    parser.add_argument("--flama-python", default=os.environ.get(
        "FLM_BENCH_FLAMA_PYTHON", "/work/venv-flama/bin/python"))
    parser.add_argument("--work", help="scratch directory (default: a temporary one, removed)")
    parser.add_argument("--only", help="comma-separated workloads to run (for debugging)")
    parser.add_argument("--methods", help="comma-separated methods to run (for debugging)")
    parser.add_argument("--docs", default=str(DOCS), help="where benchmarks.md and PNGs go")
    args = parser.parse_args(argv)

    if args.report:
        results = json.loads(Path(args.report).read_text())
        print(report.write(results, Path(args.docs)))
        return 0

    full = bool(args.full)
    work = Path(args.work or tempfile.mkdtemp(prefix="flm-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    flama = args.flama_python if Path(args.flama_python).exists() else None
    runner = Runner({"bench": sys.executable, "flama": flama}, work)
    started = time.perf_counter()
    command = "python -m benchmarks " + ("--full" if full else "--quick")
    if args.only or args.methods:
        command += "".join(f" --{k} {v}" for k, v in (("only", args.only),
                                                      ("methods", args.methods)) if v)
    res = runner.results
    res.update(mode="full" if full else "quick", command=command, machine=machine(),
               date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="minutes"),
               versions={"bench": versions(sys.executable),
                         "flama": versions(flama) if flama else {}})
    try:
        _log("import flm_core time")
        res["import"] = measure.import_time(sys.executable, plan.import_repeats(full))
        if not args.only or "tiny-sklearn" in args.only.split(","):
            _log("first call in a fresh process (tiny-sklearn)")
            res["first_call"] = first_call.measure_all(runner.pythons, work,
                                                       plan.first_call_repeats(full))
        for case in plan.cases(full):
            if args.only and case.workload not in args.only.split(","):
                continue
            if args.methods:
                keep = tuple(m for m in case.methods if m in args.methods.split(","))
                case = dataclasses.replace(case, methods=keep)
            runner.run_case(case)
            runner.drop_caches(case.workload)
    finally:
        res["seconds"] = time.perf_counter() - started
        (work / "results.json").write_text(json.dumps(res, indent=1))
        _log(f"raw results: {work / 'results.json'}")
    # The scratch directory now holds only results.json (caches and outputs are removed as
    # the run goes); it stays for `--report`.
    print(report.write(res, Path(args.docs)))
    return 0
