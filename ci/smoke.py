"""Smoke test run inside a venv holding flm-core and ONE plugin, installed from built wheels.

    python ci/smoke.py dump PLUGIN DIR    dump/load a model, prove discovery, write DIR/PLUGIN.flm
    python ci/smoke.py read PLUGIN DIR    read_meta every other plugin's file; loading it must
                                          say which `pip install` is missing
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import flm_core
from flm_core.plugins import FIRST_PARTY, Registry

FRAMEWORK_MODULES = {"sklearn": "sklearn", "torch": "torch", "tensorflow": "tensorflow",
                     "polynomial": "numpy"}
XOR = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]


def make(plugin: str) -> tuple[Any, Any]:
    """A model of the plugin's framework and a function giving its predictions."""
    if plugin == "sklearn":
        from sklearn.neural_network import MLPClassifier

        model = MLPClassifier(activation="tanh", max_iter=2000, hidden_layer_sizes=(10,),
                              random_state=0).fit(XOR, [0, 1, 1, 0])
        return model, lambda m: m.predict_proba(XOR).tolist()
    if plugin == "torch":
        import torch

        model = torch.nn.Sequential(torch.nn.Linear(2, 10), torch.nn.Tanh(),
                                    torch.nn.Linear(10, 1), torch.nn.Sigmoid())
        return model, lambda m: m(torch.tensor(XOR)).tolist()
    if plugin == "tensorflow":
        import tensorflow as tf

        model = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(10, "tanh"),
                                     tf.keras.layers.Dense(1, "sigmoid")])
        return model, lambda m: m(tf.constant(XOR)).numpy().tolist()
    import numpy

    model = numpy.polynomial.Polynomial.fit([0, 1, 2, 3], [1, 3, 7, 13], 2)
    return model, lambda m: m(numpy.arange(5.0)).tolist()


def dump(plugin: str, directory: Path) -> None:
    installed = Registry.current().serializers
    assert set(installed) == {plugin}, f"expected only {plugin}, found {sorted(installed)}"
    assert installed[plugin][1] == f"flm-{plugin}", installed[plugin]
    others = [m for p, m in FRAMEWORK_MODULES.items() if p != plugin and m != "numpy"]
    present = [m for m in others if importlib.util.find_spec(m) is not None]
    assert not present, f"frameworks that should not be installed: {present}"
    model, predict = make(plugin)
    path = directory / f"{plugin}.flm"
    flm_core.dump(model, path)
    with flm_core.load(path) as loaded:
        assert predict(loaded.model) == predict(model)
    print(f"{plugin}: dump/load ok, discovered through the entry point of flm-{plugin}")


def read(plugin: str, directory: Path) -> None:
    for path in sorted(directory.glob("*.flm")):
        meta = flm_core.read_meta(path)
        if meta.framework.lib == plugin:
            continue
        try:
            flm_core.load(path)
        except flm_core.PluginNotFoundError as exc:
            # the file's own plugin distribution: where to install it from, and its PyPI name
            dist = meta.plugin.distribution
            assert f"pip install {dist}" in str(exc), exc
            if dist in FIRST_PARTY:
                assert f"pip install ./plugins/{dist}" in str(exc), exc
            print(f"{plugin}: read_meta({path.name}) ok; load says: {exc}")
        else:
            raise AssertionError(f"{path.name} loaded without flm-{meta.framework.lib}")


if __name__ == "__main__":
    action, plugin, directory = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    {"dump": dump, "read": read}[action](plugin, directory)
