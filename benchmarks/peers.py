"""What FLM is measured against: each way to save and reload a model, as a named method.

Every method runs inside a measuring child (see measure.py) in the venv it names: flama
2.2.2 lives in its own venv because it pins its own stack. Imports happen in ``setup`` or
inside the operation, so this module imports in both venvs.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
from collections.abc import Callable
from typing import Any

from benchmarks.workloads import Workload, example_inputs, torch_skeleton

FLM_CODECS = ("zstd", "zlib", "bz2", "lzma", "none")
FLAMA_CODECS = ("zstd", "zlib", "bz2", "lzma")
FRAMEWORK_MODULES = {"sklearn": ("sklearn",), "torch": ("torch",), "keras": ("keras",)}

class _Hide:
    """An import hook that makes some top-level packages look uninstalled."""

    def __init__(self, names: set[str]) -> None:
        self.names = names

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"hidden by the benchmark: {name}", name=name)
        return None


@dataclasses.dataclass(frozen=True)
class Method:
    name: str
    family: str  # "flm" | "flama" | "native": how the report groups it
    venv: str  # "bench" | "flama"
    frameworks: tuple[str, ...]
    dump: Callable[[Workload, Any, str], None]
    load: Callable[[Workload, str], Any]
    imports: tuple[str, ...] = ()

    def setup(self, w: Workload) -> None:
        import importlib

        self.hide_unused(w)
        for module in (*FRAMEWORK_MODULES[w.framework], *self.imports):
            importlib.import_module(module)

    def hide_unused(self, w: Workload) -> None:
        import sys

        if self.family == "flama" and w.framework == "sklearn":
            # flama.serialize imports torch and tensorflow up front (5-8 s per child); hide
            # them from sklearn runs. flama's try/except ImportError handles it, and nothing
            # timed changes: only start-up gets shorter. (torch and keras probe each other
            # with find_spec, so their runs keep everything.)
            sys.meta_path.insert(0, _Hide({"torch", "tensorflow", "keras"}))

    def file_bytes(self, path: str) -> int:
        return os.path.getsize(path)


# --- FLM ----------------------------------------------------------------------------------

def _flm_dump(codec: str) -> Callable[[Workload, Any, str], None]:
    def dump(w: Workload, model: Any, path: str) -> None:
        import flm_core

        if w.framework == "torch":
            try:
                flm_core.dump(model, path, compression=codec, example_inputs=example_inputs(w))
                return
            except flm_core.OptionError:  # a plugin that infers its inputs needs none
                pass
        flm_core.dump(model, path, compression=codec)

    return dump


def _flm_load(w: Workload, path: str) -> Any:
    import flm_core

    with flm_core.load(path) as artifact:
        return artifact.model


# --- flama 2.2.2 --------------------------------------------------------------------------

def _flama_dump(codec: str) -> Callable[[Workload, Any, str], None]:
    def dump(w: Workload, model: Any, path: str) -> None:
        import flama.serialize

        flama.serialize.dump(model, path=path, family="ml", compression=codec)

    return dump


def _flama_load(w: Workload, path: str) -> Any:
    import flama.serialize

    return flama.serialize.load(path=path).model


# --- native savers ------------------------------------------------------------------------

def _pickle_dump(w: Workload, model: Any, path: str) -> None:
    with open(path, "wb") as f:
        pickle.dump(model, f, protocol=5)


def _pickle_load(w: Workload, path: str) -> Any:
    with open(path, "rb") as f:
        return pickle.load(f)


def _joblib_dump(w: Workload, model: Any, path: str) -> None:
    import joblib

    joblib.dump(model, path)


def _joblib_load(w: Workload, path: str) -> Any:
    import joblib

    return joblib.load(path)


def _skops_dump(w: Workload, model: Any, path: str) -> None:
    import skops.io

    skops.io.dump(model, path)


def _skops_load(w: Workload, path: str) -> Any:
    import skops.io

    # Trusting what the file lists is what a user who wrote it does; skops' check is the
    # same allowlist walk either way.
    return skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))


def _export_dump(w: Workload, model: Any, path: str) -> None:
    import torch

    torch.export.save(torch.export.export(model, example_inputs(w)), path)


def _export_load(w: Workload, path: str) -> Any:
    import torch

    return torch.export.load(path).module()


def _state_dict_dump(w: Workload, model: Any, path: str) -> None:
    import torch

    torch.save(model.state_dict(), path)


def _state_dict_load(w: Workload, path: str) -> Any:
    import torch

    # The architecture comes from code, as it must for a state dict; meta-device parameters
    # make that free, so the time is the weights' alone.
    model = torch_skeleton(w)
    model.load_state_dict(torch.load(path, weights_only=True), assign=True)
    return model


def _keras_dump(w: Workload, model: Any, path: str) -> None:
    model.save(path)


def _keras_load(w: Workload, path: str) -> Any:
    import keras

    return keras.saving.load_model(path)


METHODS: dict[str, Method] = {}
for _codec in FLM_CODECS:
    METHODS[f"flm-{_codec}"] = Method(f"flm-{_codec}", "flm", "bench",
                                      ("sklearn", "torch", "keras"), _flm_dump(_codec),
                                      _flm_load, ("flm_core",))
for _codec in FLAMA_CODECS:
    METHODS[f"flama-{_codec}"] = Method(f"flama-{_codec}", "flama", "flama",
                                        ("sklearn", "torch", "keras"), _flama_dump(_codec),
                                        _flama_load, ("flama.serialize",))
for _method in [
    Method("pickle", "native", "bench", ("sklearn",), _pickle_dump, _pickle_load),
    Method("joblib", "native", "bench", ("sklearn",), _joblib_dump, _joblib_load, ("joblib",)),
    Method("skops", "native", "bench", ("sklearn",), _skops_dump, _skops_load, ("skops.io",)),
    Method("torch.export", "native", "bench", ("torch",), _export_dump, _export_load),
    Method("torch.save", "native", "bench", ("torch",), _state_dict_dump, _state_dict_load),
    Method("keras", "native", "bench", ("keras",), _keras_dump, _keras_load),
]:
    METHODS[_method.name] = _method

SUFFIX = {"keras": ".keras", "skops": ".skops", "torch.export": ".pt2", "torch.save": ".pt"}


def suffix(method: str) -> str:
    """The file name ending each saver expects (keras refuses any other)."""
    return SUFFIX.get(method, ".flm" if method.startswith(("flm", "flama")) else ".bin")
