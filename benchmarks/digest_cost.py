"""What the model digest costs: a 400 MB float32 payload (random mantissas, so it compresses
like real weights), in one process, alternating, medians of several runs.

- load, with the sha256 recomputed on its own thread (what ``load`` does) and skipped;
- dump, with the section's sha256 as written, with no digest at all, and with BLAKE3 in its
  place where the ``blake3`` package is installed: what a faster digest could save;
- each digest's throughput on one core.

    python benchmarks/digest_cost.py [--runs 7] [--mb 400]
"""

from __future__ import annotations

import argparse
import array
import hashlib
import os
import random
import statistics
import tempfile
import time
from typing import Any

import flm_core
from flm_core.container import reader, sections
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


class _NoDigest:
    def update(self, data: Any) -> None:
        pass

    def hexdigest(self) -> str:
        return "0" * 64


def _digests() -> dict[str, Any]:
    found: dict[str, Any] = {"sha256": hashlib.sha256, "none": _NoDigest}
    try:
        import blake3  # type: ignore[import-not-found]

        found["blake3"] = blake3.blake3
    except ImportError:
        pass
    return found


def _time_dump(model: Any, path: str, digest: Any) -> float:
    original = sections.hashlib
    sections.hashlib = type("Digests", (), {"sha256": staticmethod(digest)})  # type: ignore[assignment]
    try:
        started = time.perf_counter()
        flm_core.dump(model, path)
        return time.perf_counter() - started
    finally:
        sections.hashlib = original


def _throughput(digests: dict[str, Any], runs: int) -> None:
    import zlib

    data = memoryview(_weights(64)).cast("B")
    for name, make in [*digests.items(), ("crc32", None)]:
        if name == "none":
            continue
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            if make is None:
                zlib.crc32(data)
            else:
                make(data).hexdigest()
            times.append(time.perf_counter() - started)
        print(f"{name}: {len(data) / statistics.median(times) / 1e9:.2f} GB/s on one core")


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
        digests = _digests()
        path = os.path.join(tmp, "dump.flm")
        dumps: dict[str, list[float]] = {name: [] for name in digests}
        _time_dump(plugin, path, hashlib.sha256)
        for _ in range(args.runs):
            for name, make in digests.items():
                dumps[name].append(_time_dump(plugin, path, make))
        base = statistics.median(dumps["sha256"])
        print(f"zstd: {args.mb} MB dump, " + ", ".join(
            f"{name} {statistics.median(t):.3f} s ({statistics.median(t) / base:.2f}x)"
            for name, t in dumps.items()) + f" ({args.runs} runs each, medians)")
    _throughput(_digests(), args.runs)


if __name__ == "__main__":
    main()
