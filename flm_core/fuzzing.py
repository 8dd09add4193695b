"""A time-boxed fuzz driver for a plugin's payload reader, shared by every plugin's fuzzer.

A plugin's fuzz script supplies a hypothesis strategy of edits and ``attempt(edit)``, which
builds the edited payload into a real .flm, loads it and returns the outcome ("model" or the
FLMError's name; :func:`outcome` does that part). :func:`run` repeats it for the time given,
saves the input that broke the property to a corpus and reports the executions and the peak
RSS as one JSON line; :func:`run_script` runs such a script in a child process from a test,
so a crash, a hang or a runaway allocation fails the test and not the test run.

Needs hypothesis (a test dependency); ``import flm_core`` never imports this module.
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from flm_core.errors import FLMError

PER_EXAMPLE_SECONDS = 60
MAX_RSS_KIB = 4 * 1024 * 1024


class Hang(BaseException):
    """Raised by SIGALRM; a BaseException, so no error wrapping can turn it into FLMError."""


def _alarm(signum: int, frame: Any) -> None:
    raise Hang(f"one load took over {PER_EXAMPLE_SECONDS} s")


def outcome(load: Callable[[bytes], Any], payload: bytes, model_type: type,
            marker: Path) -> str:
    """Load ``payload``: "model", or the FLMError's name. Raises on any other exception, on a
    load that hangs, and if ``marker`` exists afterwards (a command hidden in the edit ran)."""
    marker.unlink(missing_ok=True)
    signal.alarm(PER_EXAMPLE_SECONDS)
    try:
        model = load(payload)
    except FLMError as exc:
        found = type(exc).__name__
    else:
        assert isinstance(model, model_type), type(model)
        found = "model"
    finally:
        signal.alarm(0)
    assert not marker.exists(), "a command hidden in the payload ran"
    return found


def json_values(hostile: Sequence[str]) -> Any:
    """JSON values of every kind, the strings drawn from ``hostile`` or at random."""
    from hypothesis import strategies as st

    return st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.sampled_from(hostile)
        | st.text(max_size=20),
        lambda children: st.lists(children, max_size=3) | st.dictionaries(
            st.sampled_from(hostile) | st.text(max_size=8), children, max_size=3),
        max_leaves=8,
    )


def json_paths(value: Any) -> Iterator[tuple[Any, ...]]:
    """Every path (keys and indices) in a JSON value, containers included."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        yield path
        if isinstance(item, dict):
            stack.extend((child, (*path, key)) for key, child in item.items())
        elif isinstance(item, list):
            stack.extend((child, (*path, i)) for i, child in enumerate(item))


def replace_at(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    """A deep copy of ``value`` with the item at ``path`` replaced (the root if empty)."""
    if not path:
        return new
    copied = copy.deepcopy(value)
    parent = copied
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = new
    return copied


def run(edits: Any, build: Callable[[dict[str, Any]], bytes], check: Callable[[bytes], str],
        seconds: float, corpus: Path) -> int:
    """Fuzz for ``seconds``: ``build(edit)`` makes the payload of each edit that the strategy
    ``edits`` draws, ``check(payload)`` returns its outcome or raises (see :func:`outcome`).

    Prints ``{"executions", "outcomes", "peak_rss_kib"}``; returns 1 past 4 GiB of RSS."""
    from hypothesis import HealthCheck, Phase, given, settings

    counts: dict[str, int] = {}
    last: dict[str, Any] = {}

    @settings(max_examples=25, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(edits)
    def one(edit: dict[str, Any]) -> None:
        last["edit"] = edit
        last["payload"] = payload = build(edit)
        found = check(payload)
        counts[found] = counts.get(found, 0) + 1

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


def main(fuzz: Callable[[float, Path], int], description: str, corpus: Path) -> int:
    """The script's command line: ``--seconds`` (default 20) and ``--corpus``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--corpus", type=Path, default=corpus)
    args = parser.parse_args()
    return fuzz(args.seconds, args.corpus)


def run_script(script: Path, seconds: float, found: Path,
               env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a fuzz script in a child process; fail (AssertionError) unless it exits 0 after
    at least one execution. Returns its summary line."""
    result = subprocess.run(
        [sys.executable, str(script), "--seconds", str(seconds), "--corpus", str(found)],
        capture_output=True, text=True, timeout=seconds * 3 + 300, env=env)
    print(result.stdout)
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    summary: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["executions"] > 0
    return summary
