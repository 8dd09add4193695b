"""flm-sklearn's payload against pickle on the bench's sklearn workloads, in one process.

    python -m benchmarks.sklearn_payload [medium-sklearn|tiny-sklearn] [repeats]

Prints, for FLM and for pickle, the minimum over ``repeats`` of the calling thread's CPU
time (``time.thread_time``): the payload alone (``flm_sklearn.payload`` dump into memory,
load from memory, against ``pickle.dumps``/``pickle.loads``) and the whole file
(``flm_core.dump``/``load`` against ``pickle.dump``/``load`` on a file). CPU time and the
minimum keep the figure stable on a loaded machine, where wall-clock medians are not.
Framework imports are excluded. To compare another flm_sklearn (an older commit), put its
plugin directory first on ``PYTHONPATH``: ``git worktree add /tmp/before <commit>`` then
``PYTHONPATH=/tmp/before/plugins/flm-sklearn python -m benchmarks.sklearn_payload``.
"""

from __future__ import annotations

import io
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from benchmarks import workloads


class _Sink:
    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.data += view
        return view.nbytes


def _best(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.thread_time()
        run()
        times.append(time.thread_time() - start)
    return min(times) * 1e3


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else "medium-sklearn"
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    from flm_sklearn import payload

    import flm_core

    model = workloads.build(workloads.WORKLOADS[name])
    with tempfile.TemporaryDirectory() as tmp:
        flm_path, pickle_path = os.path.join(tmp, "m.flm"), os.path.join(tmp, "m.pkl")
        sink = _Sink()
        payload.dump(model).write(sink)  # type: ignore[arg-type]
        data, pickled = bytes(sink.data), pickle.dumps(model, protocol=5)

        def flm_load() -> None:
            with flm_core.load(flm_path):
                pass

        def pickle_dump() -> None:
            with open(pickle_path, "wb") as f:
                pickle.dump(model, f, protocol=5)

        def pickle_load() -> None:
            with open(pickle_path, "rb") as f:
                pickle.load(f)

        rows: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
            "flm payload": (lambda: payload.dump(model).write(_Sink()),  # type: ignore[arg-type]
                            lambda: payload.load(io.BytesIO(data), None)),
            "pickle bytes": (lambda: pickle.dumps(model, protocol=5),
                             lambda: pickle.loads(pickled)),
            "flm file": (lambda: flm_core.dump(model, flm_path), flm_load),
            "pickle file": (pickle_dump, pickle_load),
        }
        for label, (dump, load) in rows.items():
            dump()  # the file must exist before its load is timed
            print(f"{name} {label:13} dump {_best(dump, repeats):7.2f} ms   "
                  f"load {_best(load, repeats):7.2f} ms   (min of {repeats}, thread CPU time)")
    print(f"flm_sklearn from {os.path.dirname(payload.__file__)}")


if __name__ == "__main__":
    main()
