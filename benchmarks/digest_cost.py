"""What recomputing the model digest costs ``load``: a 400 MB float32 payload (random
mantissas, so it compresses like real weights), loaded with the sha256 recomputed on its own
thread (what ``load`` does) and with it skipped (what ``load`` did before), in one process,
alternating, medians of several runs.

    python benchmarks/digest_cost.py [--runs 7] [--mb 400]
"""

from __future__ import annotations

import argparse
import array
import os
import random
import statistics
import tempfile
import time
from typing import Any

import flm_core
from flm_core.container import reader
from flm_core.plugins import get_plugin_manager


def _weights(mb: int) -> memoryview:
    rng = random.Random(0)
    values = array.array("f", (rng.gauss(0, 0.05) for _ in range(1 << 18)))  # 1 MiB
    return memoryview(values * mb)


class Plugin:
    """The ``weights`` framework: a model is one float32 buffer; loading reads it whole."""

    def __init__(self, buffer: memoryview) -> None:
        self.buffer = buffer

    @flm_core.hookimpl
    def flm_serializers(self) -> list[flm_core.Serializer]:
        def load(stream: Any, meta: Any) -> bytearray:
            out = bytearray(meta.model_section.raw_size if meta.model_section else 0)
            view, done = memoryview(out), 0
            while chunk := stream.readinto(view[done:]):
                done += chunk
            return out

        return [flm_core.Serializer(
            name="weights", distribution="flm-weights", can_serialize=lambda obj: obj is self,
            framework_version=lambda: "1", load=load,
            dump=lambda model: flm_core.Payload(write=lambda sink: sink.write(self.buffer)),
        )]


def _time_load(path: str, digest: bool) -> float:
    original = reader.iter_sections
    if not digest:
        def without(*args: Any, **kwargs: Any) -> Any:
            return original(*args, **{**kwargs, "digest": False})

        reader.iter_sections = without  # type: ignore[assignment]
        flm_core.api.iter_sections = without  # type: ignore[attr-defined]
    try:
        started = time.perf_counter()
        flm_core.load(path, limits=flm_core.Limits(max_ratio=10**6)).close()
        return time.perf_counter() - started
    finally:
        reader.iter_sections = original
        flm_core.api.iter_sections = original  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--mb", type=int, default=400)
    args = parser.parse_args()
    plugin = Plugin(_weights(args.mb))
    get_plugin_manager().register(plugin, name="flm-weights")
    with tempfile.TemporaryDirectory() as tmp:
        for codec in ("zstd", "none"):
            path = os.path.join(tmp, f"w-{codec}.flm")
            flm_core.dump(plugin, path, compression=codec)
            _time_load(path, True)  # warm the page cache and the pools
            times: dict[bool, list[float]] = {True: [], False: []}
            for _ in range(args.runs):
                for digest in (True, False):
                    times[digest].append(_time_load(path, digest))
            with_, without = statistics.median(times[True]), statistics.median(times[False])
            print(f"{codec}: {args.mb} MB load, digest recomputed {with_:.3f} s, skipped "
                  f"{without:.3f} s: {with_ / without:.2f}x ({args.runs} runs each, medians)")


if __name__ == "__main__":
    main()
