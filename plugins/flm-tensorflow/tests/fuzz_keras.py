"""Property-based fuzzer of flm-tensorflow's payload reader (hypothesis), run as a script.

    python plugins/flm-tensorflow/tests/fuzz_keras.py --seconds 600     # longer, on demand

Each example edits a genuine payload (a value anywhere in config.json, a whole member, or
raw bytes anywhere in the archive, which stores its members uncompressed, so flips land in
the JSON and the HDF5 weights), wraps it in a real .flm whose every checksum the core
computed (so the edit reaches the parsers), and loads it. The property:
a model, or an FLMError subclass; never another exception, never a marker file created by
a command hidden in the edit, never a hang (SIGALRM per example) and never a large peak RSS.
A failing input is written to ``--corpus`` (tests/corpus/ by default) as a regression case.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))  # run as a script: its helpers sit beside it
import keras_payloads as kp

from flm_core import fuzzing

MARKER = Path(tempfile.gettempdir()) / f"flm-keras-fuzz-{os.getpid()}"
COMMAND = f"__import__('os').system('touch {MARKER}')"
HOSTILE_TEXT = [
    COMMAND, "os", "builtins", "exec", "system", "function", "Lambda", "__lambda__",
    "__numpy__", "__tensor__", "S15000000000", "object", "keras.utils", "get_file",
    "os>system", "../evil", "/etc/passwd", "", "x" * 5000, "float32", "Dense", "keras.layers",
    "safe_mode", "\x00", "\ud800",
]
json_values = fuzzing.json_values(HOSTILE_TEXT)


@st.composite
def edits(draw: st.DrawFn, genuine: kp.Genuine, paths: list[tuple[Any, ...]]) -> dict[str, Any]:
    kind = draw(st.sampled_from(["value", "member", "bytes", "truncate"]))
    if kind == "value":
        return {"kind": kind, "path": draw(st.sampled_from(paths)), "value": draw(json_values)}
    if kind == "member":
        name = draw(st.sampled_from([*genuine.members, "assets/x", "../x", "model.weights.npz"]))
        return {"kind": kind, "name": name, "value": draw(st.binary(max_size=64) | st.none())}
    size = len(genuine.payload)
    if kind == "truncate":
        return {"kind": kind, "at": draw(st.integers(0, size - 1))}
    flips = draw(st.lists(st.tuples(st.integers(0, size - 1), st.integers(0, 255)),
                          min_size=1, max_size=8))
    return {"kind": kind, "flips": flips}


def apply(genuine: kp.Genuine, edit: dict[str, Any]) -> bytes:
    kind = edit["kind"]
    if kind == "value":
        return genuine.build(kp.replace_at(genuine.config, tuple(edit["path"]), edit["value"]))
    if kind == "member":
        return genuine.build(members={edit["name"]: edit["value"]})
    if kind == "truncate":
        return genuine.payload[: edit["at"]]
    data = bytearray(genuine.payload)
    for offset, value in edit["flips"]:
        data[offset] = value
    return bytes(data)


def check(payload: bytes) -> str:
    """Load ``payload`` in a real .flm; return "model" or the FLMError's name, or raise."""
    return fuzzing.outcome(lambda data: kp.load(kp.flm_file(data)), payload, kp.keras.Model,
                           MARKER)


def run(seconds: float, corpus: Path) -> int:
    genuine = kp.Genuine()
    paths = list(fuzzing.json_paths(genuine.config))
    return fuzzing.run(edits(genuine, paths), lambda edit: apply(genuine, edit), check,
                       seconds, corpus)


if __name__ == "__main__":
    sys.exit(fuzzing.main(run, __doc__.split("\n")[0], Path(__file__).parent / "corpus"))
