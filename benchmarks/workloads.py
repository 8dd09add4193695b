"""The models under test, built deterministically and cached once per venv.

Building the medium random forest takes tens of seconds, so ``prepare`` builds each model
once per venv and saves it with its framework's own saver; every measuring child then
``restore``s it. The flama venv builds its own copy: its sklearn/keras versions may differ
from the bench venv's, and a pickle is only safe to load into the versions that wrote it.

This module is imported in both venvs and must not import flm_core.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
from typing import Any

XOR = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
XOR_Y = [0, 1, 1, 0]
MB = 1_000_000


@dataclasses.dataclass(frozen=True)
class Workload:
    name: str
    framework: str  # "sklearn" | "torch" | "keras"
    size: str  # "tiny" | "medium" | "large"
    spec: tuple[int, ...] = ()  # torch MLP (width, depth), keras (width, depth)

    @property
    def cache_suffix(self) -> str:
        return {"sklearn": ".pkl", "torch": ".pt", "keras": ".keras"}[self.framework]


# The torch MLPs of the scaling series: (width, depth) of Linear(width, width) layers.
# 4096x4096 float32 + bias is 67.1 MB, 2048x2048 is 16.8 MB.
TORCH_SIZES = {50: (2048, 3), 100: (2048, 6), 200: (4096, 3), 400: (4096, 6),
               800: (4096, 12), 1600: (4096, 24)}

WORKLOADS = {w.name: w for w in [
    Workload("tiny-sklearn", "sklearn", "tiny"),
    Workload("tiny-torch", "torch", "tiny"),
    Workload("tiny-keras", "keras", "tiny"),
    Workload("medium-sklearn", "sklearn", "medium"),
    Workload("medium-keras", "keras", "medium", (2048, 3)),
    *[Workload(f"torch-{mb}MB", "torch", "large", TORCH_SIZES[mb]) for mb in TORCH_SIZES],
]}


def _torch_classes() -> tuple[type, type]:
    # Defined lazily so that importing this module never imports torch; cached on the module
    # so pickles (flama pickles whole modules) find them as benchmarks.workloads.<name>.
    import torch

    class Model(torch.nn.Module):
        """The seed's XOR model."""

        def __init__(self) -> None:
            super().__init__()
            self.l1 = torch.nn.Linear(2, 10)
            self.l2 = torch.nn.Linear(10, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(self.l2(torch.tanh(self.l1(x))))

    class MLP(torch.nn.Module):
        def __init__(self, width: int = 4096, depth: int = 6) -> None:
            super().__init__()
            self.layers = torch.nn.Sequential(
                *[torch.nn.Linear(width, width) for _ in range(depth)])

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.layers(x)

    for cls in (Model, MLP):
        cls.__module__, cls.__qualname__ = __name__, cls.__name__
    return Model, MLP


def __getattr__(name: str) -> Any:
    if name in ("Model", "MLP"):
        globals()["Model"], globals()["MLP"] = _torch_classes()
        return globals()[name]
    raise AttributeError(name)


def torch_skeleton(w: Workload) -> Any:
    """The module with its parameters on the meta device: no memory until weights arrive."""
    import torch

    with torch.device("meta"):
        return torch_module(w)


def torch_module(w: Workload) -> Any:
    from benchmarks import workloads

    return workloads.Model() if w.size == "tiny" else workloads.MLP(*w.spec)


def example_inputs(w: Workload) -> tuple[Any, ...]:
    import torch

    width = 2 if w.size == "tiny" else w.spec[0]
    return (torch.zeros(4, width),)


def build(w: Workload) -> Any:
    """A fresh model; fixed seeds so both venvs build the same one."""
    if w.framework == "sklearn":
        import numpy as np

        if w.size == "tiny":
            from sklearn.neural_network import MLPClassifier

            model = MLPClassifier(activation="tanh", max_iter=2000, hidden_layer_sizes=(10,),
                                  random_state=0)
            return model.fit(XOR, XOR_Y)
        from sklearn.ensemble import RandomForestClassifier

        rng = np.random.default_rng(0)
        x = rng.standard_normal((50_000, 20))
        # A rule axis-aligned splits learn only piecewise: deep trees, ~21 MB pickled.
        y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(int)
        return RandomForestClassifier(n_estimators=50, random_state=0, n_jobs=-1).fit(x, y)
    if w.framework == "torch":
        import torch

        torch.manual_seed(0)
        return torch_module(w).eval()
    import keras

    keras.utils.set_random_seed(0)
    if w.size == "tiny":
        layers = [keras.Input((2,)), keras.layers.Dense(10, activation="tanh"),
                  keras.layers.Dense(1, activation="sigmoid")]
    else:
        width, depth = w.spec
        layers = [keras.Input((width,)),
                  *[keras.layers.Dense(width, activation="relu") for _ in range(depth)],
                  keras.layers.Dense(10)]
    model = keras.Sequential(layers)
    model.compile(optimizer="adam", loss="mse")
    return model


def prepare(w: Workload, cache: str) -> Any:
    """Build the model, save it to ``cache`` with the framework's own saver, return it."""
    model = build(w)
    tmp = f"{cache}.tmp{w.cache_suffix}"
    if w.framework == "sklearn":
        with open(tmp, "wb") as f:
            pickle.dump(model, f, protocol=5)
    elif w.framework == "torch":
        import torch

        torch.save(model.state_dict(), tmp)
    else:
        model.save(tmp)
    os.replace(tmp, cache)
    return model


def restore(w: Workload, cache: str) -> Any:
    """The cached model, fully resident in memory (no mmap), as a user would hold it."""
    if w.framework == "sklearn":
        with open(cache, "rb") as f:
            return pickle.load(f)
    if w.framework == "torch":
        import torch

        model = torch_skeleton(w)
        model.load_state_dict(torch.load(cache, weights_only=True), assign=True)
        return model.eval()
    import keras

    return keras.saving.load_model(cache)


def weight_bytes(w: Workload, model: Any) -> int:
    """The raw bytes of the model's parameters: the yardstick for file size and RSS."""
    if w.framework == "torch":
        return sum(t.numel() * t.element_size() for t in model.state_dict().values())
    if w.framework == "keras":
        return sum(v.numpy().nbytes for v in model.weights)
    return len(pickle.dumps(model, protocol=5))
