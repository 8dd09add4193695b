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

import argparse
import base64
import json
import os
import resource
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))  # run as a script: its helpers sit beside it
import torch
import torch_payloads as tp

import flm_core

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
PER_EXAMPLE_SECONDS = 60
MAX_RSS_KIB = 4 * 1024 * 1024


class Hang(BaseException):
    """Raised by SIGALRM; a BaseException, so no error wrapping can turn it into FLMError."""


def _alarm(signum: int, frame: Any) -> None:
    raise Hang(f"one load took over {PER_EXAMPLE_SECONDS} s")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.sampled_from(HOSTILE_TEXT)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(HOSTILE_TEXT) | st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


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
    MARKER.unlink(missing_ok=True)
    signal.alarm(PER_EXAMPLE_SECONDS)
    try:
        model = tp.load(tp.flm_file(payload))
    except flm_core.FLMError as exc:
        outcome = type(exc).__name__
    else:
        assert isinstance(model, torch.nn.Module), type(model)
        outcome = "model"
    finally:
        signal.alarm(0)
    assert not MARKER.exists(), "a command hidden in the payload ran"
    return outcome


def run(seconds: float, corpus: Path) -> int:
    genuines = [tp.Genuine(), tp.Genuine(tp.ControlFlow(), example_inputs=(torch.randn(2, 3),))]
    paths = [list(tp.paths(genuine.program)) for genuine in genuines]
    counts: dict[str, int] = {}
    last: dict[str, Any] = {}

    @settings(max_examples=25, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(edits(genuines, paths))
    def one(edit: dict[str, Any]) -> None:
        last["edit"] = edit
        payload = apply(genuines[edit["model"]], edit)
        last["payload"] = payload
        outcome = check(payload)
        counts[outcome] = counts.get(outcome, 0) + 1

    signal.signal(signal.SIGALRM, _alarm)
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            one()
    except BaseException as exc:
        _save(corpus, last, exc)
        raise
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"executions": sum(counts.values()), "outcomes": counts,
                      "peak_rss_kib": rss}))
    return 0 if rss < MAX_RSS_KIB else 1


def _save(corpus: Path, last: dict[str, Any], exc: BaseException) -> None:
    if "payload" not in last:
        return
    corpus.mkdir(parents=True, exist_ok=True)
    case = {"why": f"fuzz: {type(exc).__name__}: {str(exc)[:300]}",
            "edit": repr(last["edit"])[:2000],
            "payload": base64.b64encode(last["payload"]).decode(), "expect": "FLMError"}
    name = corpus / f"fuzz-{int(time.time())}.json"
    name.write_text(json.dumps(case, indent=1))
    print(f"failing input saved to {name}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--corpus", type=Path, default=Path(__file__).parent / "corpus")
    args = parser.parse_args()
    return run(args.seconds, args.corpus)


if __name__ == "__main__":
    sys.exit(main())
