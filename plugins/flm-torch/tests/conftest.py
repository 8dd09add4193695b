"""Say which kernels torch picked here, so a numeric failure can be tied to a machine."""

from __future__ import annotations

import sys
from pathlib import Path

# torch_payloads.py, the hostile-file builder the red-team tests and the fuzzer share
sys.path.insert(0, str(Path(__file__).parent))


def pytest_report_header() -> str:
    import torch

    return (f"torch {torch.__version__}: cpu capability "
            f"{torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} threads, "
            f"mkldnn {'on' if torch.backends.mkldnn.is_available() else 'off'}")
