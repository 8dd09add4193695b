"""Measure flm-torch against torch.export's own save/load on a ~400 MB MLP (not a test).

Run: python plugins/flm-torch/tests/measure_large.py [--runs 3]
Each timing and each peak RSS comes from a fresh child process, so allocator state and
page cache effects of one step do not leak into the next.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

SETUP = """
import resource, time, torch, flm_core
torch.manual_seed(0)

class Mlp(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = torch.nn.Sequential(*[torch.nn.Linear(4096, 4096) for _ in range(6)])

    def forward(self, x):
        return self.layers(x)

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

STEPS = {
    "flm_dump": """
        model = Mlp(); base = peak_mb(); t = time.perf_counter()
        flm_core.dump(model, PATH, compression=CODEC)
    """,
    "native_dump": """
        model = Mlp(); base = peak_mb(); t = time.perf_counter()
        ep = torch.export.export(model.eval(), (torch.randn(2, 4096),),
                                 dynamic_shapes=({0: torch.export.Dim("batch")},))
        torch.export.save(ep, PATH)
    """,
    "flm_load": """
        base = peak_mb(); t = time.perf_counter()
        model = flm_core.load(PATH).model
    """,
    "native_load": """
        base = peak_mb(); t = time.perf_counter()
        model = torch.export.load(PATH).module()
    """,
}


def step(name: str, path: Path, codec: str = "none") -> dict[str, float]:
    code = SETUP + textwrap.dedent(STEPS[name]).replace("PATH", repr(str(path))).replace(
        "CODEC", repr(codec)) + (
        "\nelapsed = time.perf_counter() - t\n"
        "import json; print(json.dumps({'s': elapsed, 'peak_mb': peak_mb(), 'base_mb': base}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    raw_mb = 6 * (4096 * 4096 + 4096) * 4 / 2**20
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        native = d / "native.pt2"
        plan = [("native_dump", native, "none"), ("native_load", native, "none")]
        for codec in ("zstd", "none"):
            path = d / f"{codec}.flm"
            plan += [("flm_dump", path, codec), ("flm_load", path, codec)]
        rows = {}
        for name, path, codec in plan:
            results = [step(name, path, codec) for _ in range(runs)]
            rows[f"{name} ({codec})" if name.startswith("flm") else name] = {
                "median_s": statistics.median(r["s"] for r in results),
                "median_peak_mb": statistics.median(r["peak_mb"] for r in results),
                "median_extra_mb": statistics.median(r["peak_mb"] - r["base_mb"] for r in results),
                "file_mb": path.stat().st_size / 2**20,
            }
    print(f"raw weights: {raw_mb:.1f} MB; runs per step: {runs}")
    print(f"{'step':20} {'median s':>9} {'peak RSS MB':>12} {'extra MB':>9} {'file MB':>8} "
          f"{'file/raw':>8}")
    for name, row in rows.items():
        print(f"{name:20} {row['median_s']:9.2f} {row['median_peak_mb']:12.0f} "
              f"{row['median_extra_mb']:9.0f} {row['file_mb']:8.1f} {row['file_mb'] / raw_mb:8.3f}")
    native_dump, native_load = rows["native_dump"], rows["native_load"]
    for codec in ("zstd", "none"):
        dump, load = rows[f"flm_dump ({codec})"], rows[f"flm_load ({codec})"]
        print(f"{codec}: dump {dump['median_s'] / native_dump['median_s']:.2f}x native, "
              f"load {load['median_s'] / native_load['median_s']:.2f}x native, "
              f"load peak {load['median_peak_mb'] - native_load['median_peak_mb']:+.0f} MB vs "
              f"native ({(load['median_peak_mb'] - native_load['median_peak_mb']) / raw_mb:+.1%}"
              f" of model), dump peak {dump['median_peak_mb'] - native_dump['median_peak_mb']:+.0f}"
              f" MB vs native")


if __name__ == "__main__":
    main()
