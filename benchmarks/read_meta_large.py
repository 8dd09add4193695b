"""read_meta on a 1.6 GiB file without building a 1.6 GB model: a throwaway plugin streams one
64 MiB float32 buffer 25 times with compression="none".

    python benchmarks/read_meta_large.py /tmp/big.flm
"""

from __future__ import annotations

import array
import io
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import flm_core
from flm_core.plugins import get_plugin_manager

CHUNK = memoryview(array.array("f", bytes(64 * 1024 * 1024)))
FIRST_CALL = ("import time; t = time.perf_counter(); import flm_core; "
              "flm_core.read_meta({path!r}); print(time.perf_counter() - t)")


class Big:
    pass


def _dump(model: Any) -> flm_core.Payload:
    def write(sink: io.RawIOBase) -> None:
        for _ in range(25):
            sink.write(CHUNK)

    return flm_core.Payload(write=write)


class Plugin:
    @flm_core.hookimpl
    def flm_serializers(self) -> list[flm_core.Serializer]:
        return [flm_core.Serializer(
            name="big", distribution="flm-big", can_serialize=lambda obj: isinstance(obj, Big),
            framework_version=lambda: "1.0", dump=_dump, load=lambda stream, meta: None)]


def main(path: str) -> None:
    get_plugin_manager().register(Plugin())
    start = time.perf_counter()
    flm_core.dump(Big(), path, compression="none")
    print(f"dump: {time.perf_counter() - start:.1f} s, {os.path.getsize(path) / 1e9:.2f} GB")
    warm = []
    for _ in range(50):
        start = time.perf_counter()
        flm_core.read_meta(path)
        warm.append(time.perf_counter() - start)
    print(f"read_meta, warm, median of 50: {statistics.median(warm) * 1000:.3f} ms")
    code = FIRST_CALL.format(path=path)
    first = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  check=True).stdout) for _ in range(7)]
    print("import flm_core + first read_meta, fresh process, median of 7: "
          f"{statistics.median(first) * 1000:.1f} ms")


if __name__ == "__main__":
    main(sys.argv[1])
