"""Say which kernels TensorFlow picked here, so a numeric failure can be tied to a machine."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# keras_payloads.py, the hostile-file builder the red-team tests and the fuzzer share
sys.path.insert(0, str(Path(__file__).parent))


def pytest_report_header() -> str:
    import keras
    import tensorflow as tf

    # oneDNN is on by default on x86 builds; TF_ENABLE_ONEDNN_OPTS=0 turns it off.
    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on for x86)")
    threads = tf.config.threading.get_intra_op_parallelism_threads() or "all cores"
    return (f"tensorflow {tf.__version__}, keras {keras.__version__}: oneDNN {onednn}, "
            f"intra-op threads {threads}")
