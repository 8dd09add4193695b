"""FLM end to end on the seed's XOR example: train, dump with metadata and an artifact,
inspect with the `flm` command, load and predict.

    python examples/demo.py [--torch | --keras] [--dir DIR]

`nox -s demo` installs what it needs from this checkout and runs it (`-- --torch` or
`-- --keras` for the other frameworks).
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import flm_core

XOR = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
LABELS = [0, 1, 1, 0]


def train_sklearn() -> tuple[Any, Any]:
    from sklearn.neural_network import MLPClassifier

    model = MLPClassifier(activation="tanh", max_iter=2000, hidden_layer_sizes=(10,),
                          random_state=0).fit(XOR, LABELS)
    return model, lambda m: m.predict(XOR).tolist()


def train_torch() -> tuple[Any, Any]:
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 10), torch.nn.Tanh(),
                                torch.nn.Linear(10, 1), torch.nn.Sigmoid())
    x, y = torch.tensor(XOR), torch.tensor(LABELS, dtype=torch.float32).reshape(-1, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(500):
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy(model(x), y)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
    return model, lambda m: (m(x) > 0.5).int().flatten().tolist()


def train_keras() -> tuple[Any, Any]:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(10, "tanh"),
                              keras.layers.Dense(1, "sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy")
    model.fit(keras.ops.convert_to_tensor(XOR), keras.ops.convert_to_tensor(LABELS),
              epochs=300, verbose=0)
    return model, lambda m: [int(p > 0.5) for p in m.predict(
        keras.ops.convert_to_tensor(XOR), verbose=0).flatten()]


def flm_command(*args: str) -> None:
    """The `flm` console script beside this interpreter: what a user runs in a shell."""
    script = shutil.which("flm", path=str(Path(sys.executable).parent)) or "flm"
    print(f"$ flm {' '.join(args)}", flush=True)
    subprocess.run([script, *args], check=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--torch", action="store_const", dest="framework", const="torch")
    which.add_argument("--keras", action="store_const", dest="framework", const="keras")
    parser.add_argument("--dir", type=Path, help="where to write (default: a temporary dir)")
    args = parser.parse_args(argv)
    framework = args.framework or "sklearn"
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="flm-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    model, predict = {"sklearn": train_sklearn, "torch": train_torch,
                      "keras": train_keras}[framework]()
    print(f"1. trained a {framework} XOR model in {time.perf_counter() - start:.2f} s; "
          f"it predicts {predict(model)} for {XOR}")

    labels = workdir / "labels.json"
    labels.write_text(json.dumps({"0": "same", "1": "different"}))
    path = workdir / "xor.flm"
    start = time.perf_counter()
    meta = flm_core.dump(
        model, path, compression="zstd",
        timestamp=datetime.datetime(2023, 3, 10, 11, 30, tzinfo=datetime.timezone.utc),
        params={"optimizer": "adam", "hidden": 10}, metrics={"accuracy": 1.0},
        extra={"model_version": "1.0.0", "tags": ["xor", "demo"]},
        artifacts={"labels.json": labels},
    )
    print(f"2. dumped {path} ({path.stat().st_size} bytes) in "
          f"{(time.perf_counter() - start) * 1000:.0f} ms: id {meta.id}, "
          f"model sha256 {(meta.model_digest or '')[:16]}...")

    print("3. inspected from the shell, without importing the framework:")
    flm_command("inspect", str(path))

    start = time.perf_counter()
    with flm_core.load(path) as loaded:
        names = json.loads(loaded.artifacts["labels.json"].read_text())
        predictions = predict(loaded.model)
        took = (time.perf_counter() - start) * 1000
    print(f"4. loaded it in {took:.0f} ms ({loaded.meta.model.obj}); predictions:")
    for x, p in zip(XOR, predictions, strict=True):
        print(f"   {x} -> {p} ({names[str(p)]})")
    assert predictions == predict(model), "the loaded model predicts differently"
    print("ok: the loaded model predicts exactly as the trained one")


if __name__ == "__main__":
    main()
