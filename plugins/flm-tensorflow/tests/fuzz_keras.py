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
import keras_payloads as kp

import flm_core

MARKER = Path(tempfile.gettempdir()) / f"flm-keras-fuzz-{os.getpid()}"
COMMAND = f"__import__('os').system('touch {MARKER}')"
HOSTILE_TEXT = [
    COMMAND, "os", "builtins", "exec", "system", "function", "Lambda", "__lambda__",
    "__numpy__", "__tensor__", "S15000000000", "object", "keras.utils", "get_file",
    "os>system", "../evil", "/etc/passwd", "", "x" * 5000, "float32", "Dense", "keras.layers",
    "safe_mode", "\x00", "\ud800",
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
    MARKER.unlink(missing_ok=True)
    signal.alarm(PER_EXAMPLE_SECONDS)
    try:
        model = kp.load(kp.flm_file(payload))
    except flm_core.FLMError as exc:
        outcome = type(exc).__name__
    else:
        assert isinstance(model, kp.keras.Model), type(model)
        outcome = "model"
    finally:
        signal.alarm(0)
    assert not MARKER.exists(), "a command hidden in the payload ran"
    return outcome


def run(seconds: float, corpus: Path) -> int:
    genuine = kp.Genuine()
    paths = kp.paths(genuine.config)
    counts: dict[str, int] = {}
    last: dict[str, Any] = {}

    @settings(max_examples=25, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(edits(genuine, paths))
    def one(edit: dict[str, Any]) -> None:
        last["edit"] = edit
        payload = apply(genuine, edit)
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
