"""Property-based fuzzer of flm-torch's payload reader (hypothesis), run as a script.

    python plugins/flm-torch/tests/fuzz_torch.py --seconds 600     # longer, on demand

Each example edits a genuine payload (a value or a key anywhere in the program JSON, a
manifest entry, or raw bytes anywhere in the payload), wraps it in a real .flm whose every
checksum the core computed (so the edit reaches the parsers), and loads it. The property:
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
import torch
import torch_payloads as tp

from flm_core import fuzzing

MARKER = Path(tempfile.gettempdir()) / f"flm-torch-fuzz-{os.getpid()}"
COMMAND = f"__import__('os').system('touch {MARKER}')"
HOSTILE_TEXT = [
    COMMAND, f"x=({COMMAND})", f"x, _=({COMMAND})", f"x): {COMMAND} #", f"'{COMMAND}'",
    f"a\r{COMMAND}", f"a\n{COMMAND}", "builtins.exec", "torch.os.system", "os.system",
    "torch.ops.aten.__class__", "__class__", "l1.__dict__", "lambda", "", " ", "0", "x" * 5000,
    "collections.defaultdict", "Symbol('s0', cls=exec)", "9**9**9", "1 << 10**9",
    '[1, {"type": "collections.defaultdict", "context": "{}", "children_spec": []}]',
    "L['x'].size()[0] == open('f')", "x\x00", "x\u2028y", "\uff58", "s77", "tanh",
    "cpu", "TRAINING",
]
json_values = fuzzing.json_values(HOSTILE_TEXT)


@st.composite
def edits(draw: st.DrawFn, genuines: list[tp.Genuine],
          paths: list[list[tuple[Any, ...]]]) -> dict[str, Any]:
    model = draw(st.integers(0, len(genuines) - 1))
    genuine = genuines[model]
    kind = draw(st.sampled_from(["value", "key", "manifest", "bytes", "truncate"]))
    edit: dict[str, Any] = {"model": model, "kind": kind}
    if kind == "value":
        return {**edit, "path": draw(st.sampled_from(paths[model])), "value": draw(json_values)}
    if kind == "key":
        keyed = [p for p in paths[model] if p and isinstance(p[-1], str)]
        return {**edit, "path": draw(st.sampled_from(keyed)),
                "value": draw(st.sampled_from(HOSTILE_TEXT) | st.text(max_size=12))}
    if kind == "manifest":
        index = draw(st.integers(0, len(genuine.entries) - 1))
        field = draw(st.sampled_from(["name", "role", "dtype", "shape", "requires_grad", "tie"]))
        value = draw(json_values | st.lists(st.integers(-2, 1 << 62), max_size=70))
        return {**edit, "index": index, "field": field, "value": value}
    size = len(genuine.payload)
    if kind == "truncate":
        return {**edit, "at": draw(st.integers(0, size - 1))}
    flips = draw(st.lists(st.tuples(st.integers(0, size - 1), st.integers(0, 255)),
                          min_size=1, max_size=8))
    return {**edit, "flips": flips}


def apply(genuine: tp.Genuine, edit: dict[str, Any]) -> bytes:
    kind = edit["kind"]
    if kind == "value":
        return genuine.build(tp.replace_at(genuine.program, tuple(edit["path"]), edit["value"]))
    if kind == "key":
        return genuine.build(tp.rename_key_at(genuine.program, tuple(edit["path"]),
                                              edit["value"]))
    if kind == "manifest":
        entries = [dict(e) for e in genuine.entries]
        entries[edit["index"]][edit["field"]] = edit["value"]
        return genuine.build(entries=entries)
    if kind == "truncate":
        return genuine.payload[: edit["at"]]
    data = bytearray(genuine.payload)
    for offset, value in edit["flips"]:
        data[offset] = value
    return bytes(data)


def check(payload: bytes) -> str:
    """Load ``payload`` in a real .flm; return "model" or the FLMError's name, or raise."""
    return fuzzing.outcome(lambda data: tp.load(tp.flm_file(data)), payload, torch.nn.Module,
                           MARKER)


def run(seconds: float, corpus: Path) -> int:
    genuines = [tp.Genuine(), tp.Genuine(tp.ControlFlow(), example_inputs=(torch.randn(2, 3),))]
    paths = [list(fuzzing.json_paths(genuine.program)) for genuine in genuines]
    return fuzzing.run(edits(genuines, paths), lambda edit: apply(genuines[edit["model"]], edit),
                       check, seconds, corpus)


if __name__ == "__main__":
    sys.exit(fuzzing.main(run, __doc__.split("\n")[0], Path(__file__).parent / "corpus"))
