"""Say which BLAS scikit-learn runs on here, so a numeric failure can be tied to a machine."""

from __future__ import annotations

import sys
from pathlib import Path

# sklearn_payloads.py, the hostile-payload builder the red-team tests and the fuzzer share
sys.path.insert(0, str(Path(__file__).parent))


def pytest_report_header() -> str:
    import sklearn
    from threadpoolctl import threadpool_info

    pools = [f"{p.get('internal_api')} {p.get('version')} ({p.get('architecture', '?')}, "
             f"{p.get('num_threads')} threads)" for p in threadpool_info()]
    return f"scikit-learn {sklearn.__version__}: {', '.join(pools) or 'no native thread pool'}"
