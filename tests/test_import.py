"""Importing flm_core is cheap and imports no framework, whatever part of it is used."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "tensorflow", "sklearn", "numpy", "keras", "jax", "pandas", "scipy")
CPU_MS = "import time; t = time.process_time(); {code}; print((time.process_time() - t) * 1000)"
FULL_API = "from flm_core import dump, load, read_meta, verify, hookimpl; import flm_core.cli"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, check=True,
                          timeout=60)


def _imported(code: str) -> set[str]:
    modules = set()
    for line in _run("-X", "importtime", "-c", code).stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            modules.add(line.split("|")[2].strip())
    return modules


@pytest.mark.parametrize("code", ["import flm_core", FULL_API])
def test_importing_flm_core_imports_no_framework(code: str) -> None:
    modules = _imported(code)
    assert "flm_core" in modules
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert not heavy, f"{code!r} imported {heavy}"


def test_read_meta_imports_neither_plugins_nor_frameworks(small_file: Path) -> None:
    code = (f"import flm_core, sys; flm_core.read_meta({str(small_file)!r}); "
            "print(list(sys.modules))")
    modules = set(eval(_run("-c", code).stdout))
    assert not {m for m in modules if m.split(".")[0] in HEAVY}
    assert "pluggy" not in modules and "importlib.metadata" not in modules


@pytest.mark.parametrize("code", ["import flm_core", FULL_API])
def test_importing_flm_core_imports_neither_fsspec_nor_its_remote_module(code: str) -> None:
    modules = _imported(code)
    assert not {m for m in modules if m.split(".")[0] == "fsspec" or m == "flm_core.remote"}


def test_local_paths_never_import_fsspec(small_file: Path) -> None:
    code = (f"import flm_core, sys; flm_core.read_meta({str(small_file)!r}); "
            f"flm_core.verify({str(small_file)!r}); print(list(sys.modules))")
    modules = set(eval(_run("-c", code).stdout))
    assert "fsspec" not in modules and "flm_core.remote" not in modules


def test_import_is_fast() -> None:
    bare = min(float(_run("-c", CPU_MS.format(code="import flm_core")).stdout) for _ in range(3))
    full = min(float(_run("-c", CPU_MS.format(code=FULL_API)).stdout) for _ in range(3))
    print(f"import flm_core: {bare:.1f} ms CPU; whole public API and CLI: {full:.1f} ms CPU")
    assert 0 < bare < 100
    assert 0 < full < 300  # slack for slow or busy CI; measured ~60 ms on an idle machine
