"""Importing flm_core is cheap and imports no framework."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "tensorflow", "sklearn", "numpy", "keras", "jax", "pandas")
MEASURE = (
    "import time; t = time.process_time(); import flm_core; "
    "print((time.process_time() - t) * 1000)"
)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, check=True,
                          timeout=60)


def _importtime() -> tuple[set[str], float]:
    """Modules imported by ``import flm_core`` and its cumulative import time in ms."""
    modules, total = set(), 0.0
    for line in _run("-X", "importtime", "-c", "import flm_core").stderr.splitlines():
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        _, cumulative, name = line.split("|")
        if cumulative.strip().isdigit():  # not the column header
            modules.add(name.strip())
            if name.strip() == "flm_core":
                total = int(cumulative) / 1000
    return modules, total


def test_import_imports_no_framework() -> None:
    modules, _ = _importtime()
    assert "flm_core" in modules and "flm_core.api" in modules
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert not heavy, f"import flm_core imported {heavy}"


def test_import_is_fast() -> None:
    _, wall = _importtime()
    cpu = min(float(_run("-c", MEASURE).stdout) for _ in range(3))
    print(f"import flm_core: {wall:.1f} ms wall (-X importtime), {cpu:.1f} ms CPU (best of 3)")
    assert 0 < cpu < 300  # the target is 100 ms; CPU time, with slack for slow or busy CI
