"""Print what a numeric result may depend on: CPU, SIMD flags, thread settings, versions.

CI runs it first, and each framework session runs it in its own venv, so a failure can be
tied to a machine. It imports no framework: versions come from the installed metadata.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = ("numpy", "scipy", "scikit-learn", "torch", "tensorflow", "tensorflow-cpu", "keras")
SETTINGS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
            "TF_ENABLE_ONEDNN_OPTS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS",
            "ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "PYTHONHASHSEED")
# Flags that pick a different kernel: vector width, fused multiply-add, matrix units.
SIMD = re.compile(r"^(sse4_2|avx|avx2|fma|f16c|avx512\w*|amx\w*|avx_vnni\w*|asimd\w*|sve\w*)$")


def cpu() -> tuple[str, list[str]]:
    model, flags = platform.processor() or platform.machine(), set()
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return model, []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "Model") and value.strip():
            model = value.strip()
        elif key in ("flags", "Features"):
            flags.update(f for f in value.split() if SIMD.match(f))
    return model, sorted(flags)


def versions() -> list[str]:
    found = []
    for name in PACKAGES:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return found or ["no framework installed"]


def main() -> None:
    model, flags = cpu()
    print(f"machine: {model}, {os.cpu_count()} CPUs, {platform.machine()}, "
          f"{platform.system()} {platform.release()}")
    print(f"simd: {' '.join(flags) or 'unknown'}")
    settings = [f"{k}={os.environ[k]}" for k in SETTINGS if k in os.environ]
    print(f"settings: {' '.join(settings) or 'defaults'}")
    print(f"python {platform.python_version()} ({sys.executable}); {', '.join(versions())}")
    disk = shutil.disk_usage(".")
    print(f"disk: {disk.free / 2**30:.1f} GiB free of {disk.total / 2**30:.0f} GiB "
          f"at {os.getcwd()}")


if __name__ == "__main__":
    main()
