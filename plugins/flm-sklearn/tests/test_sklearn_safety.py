"""Hostile files: the loader refuses any global off its allowlist before calling anything."""

from __future__ import annotations

import builtins
import io
import os
import pickle
import struct
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flm_sklearn import payload
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

import flm_core


class RunsOnLoad:
    """Pickles as ``func(*args)``: what an attacker writes into a file."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args


def hostile_file(tmp_path: Path, obj: Any) -> Path:
    """A real .flm whose sklearn payload pickles ``obj``; framework= skips can_serialize."""
    path = tmp_path / "hostile.flm"
    flm_core.dump(obj, path, framework="sklearn")
    return path


def frame(data: bytes, buffers: tuple[bytes, ...] = ()) -> io.BytesIO:
    """The plugin's payload framing around a hand-written pickle."""
    head = payload.HEADER.pack(payload.MAGIC, payload.VERSION, 0, len(data), len(buffers))
    sizes = b"".join(payload.SIZE.pack(len(b)) for b in buffers)
    return io.BytesIO(head + sizes + data + b"".join(buffers))


def global_call(module: str, name: str) -> bytes:
    """A protocol-2 pickle: GLOBAL module.name, call it with no arguments."""
    return b"\x80\x02c" + f"{module}\n{name}\n".encode() + b")R."


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "pwned"


def test_os_system_payload_is_refused_and_never_runs(tmp_path: Path, marker: Path) -> None:
    path = hostile_file(tmp_path, RunsOnLoad(os.system, f"touch {marker}"))
    with pytest.raises(flm_core.UnsafeModelError, match=r"(posix|os)\.system"):
        flm_core.load(path)
    assert not marker.exists()
    # the same file is a live exploit once the check is off: the refusal above is what saved us
    with flm_core.load(path, unsafe=True) as loaded:
        assert loaded.model == 0
    assert marker.exists()


def test_payload_hidden_in_a_real_pipeline_is_refused(tmp_path: Path, marker: Path) -> None:
    pipeline = Pipeline([("evil", RunsOnLoad(os.system, f"touch {marker}")),
                         ("clf", LogisticRegression())])
    path = tmp_path / "pipeline.flm"
    flm_core.dump(pipeline, path)  # claimed by can_serialize: it is a real sklearn Pipeline
    assert flm_core.read_meta(path).model.obj == "sklearn.pipeline.Pipeline"
    with pytest.raises(flm_core.UnsafeModelError, match=r"(posix|os)\.system"):
        flm_core.load(path)
    assert not marker.exists()


def test_eval_payload_is_refused(tmp_path: Path, marker: Path) -> None:
    code = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    path = hostile_file(tmp_path, RunsOnLoad(builtins.eval, code))
    with pytest.raises(flm_core.UnsafeModelError, match=r"builtins\.eval"):
        flm_core.load(path)
    assert not marker.exists()


def test_subprocess_popen_payload_is_refused(tmp_path: Path, marker: Path) -> None:
    path = hostile_file(tmp_path, RunsOnLoad(subprocess.Popen, ["touch", str(marker)]))
    with pytest.raises(flm_core.UnsafeModelError, match=r"subprocess\.Popen"):
        flm_core.load(path)
    assert not marker.exists()


def test_trusting_one_name_does_not_trust_another(tmp_path: Path, marker: Path) -> None:
    path = hostile_file(tmp_path, RunsOnLoad(os.system, f"touch {marker}"))
    with pytest.raises(flm_core.UnsafeModelError):
        flm_core.load(path, trusted=["builtins.eval", "subprocess.Popen"])
    assert not marker.exists()


@pytest.fixture
def user_class(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[type]:
    """A class from an ordinary user module, importable by name like any installed code."""
    (tmp_path / "flm_sk_user_module.py").write_text(textwrap.dedent("""
        class Scaler:
            def __init__(self, factor):
                self.factor = factor
            def predict(self, x):
                return [v * self.factor for v in x]
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    import flm_sk_user_module

    yield flm_sk_user_module.Scaler
    sys.modules.pop("flm_sk_user_module", None)


def test_user_class_is_refused_by_default(tmp_path: Path, user_class: type) -> None:
    path = hostile_file(tmp_path, user_class(3))
    with pytest.raises(flm_core.UnsafeModelError, match=r"flm_sk_user_module\.Scaler"):
        flm_core.load(path)


@pytest.mark.parametrize("how", ["name", "class", "unsafe"])
def test_user_class_loads_when_the_caller_trusts_it(
    tmp_path: Path, user_class: type, how: str
) -> None:
    path = hostile_file(tmp_path, user_class(3))
    options: dict[str, Any] = {
        "name": {"trusted": ["flm_sk_user_module.Scaler"]},
        "class": {"trusted": [user_class]},
        "unsafe": {"unsafe": True},
    }[how]
    with flm_core.load(path, **options) as loaded:
        assert isinstance(loaded.model, user_class)
        assert loaded.model.predict([1, 2]) == [3, 6]


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("posix", "system"),
        ("os", "system"),
        ("builtins", "getattr"),
        ("builtins", "__import__"),
        ("builtins", "exec"),
        ("functools", "partial"),
        ("numpy", "memmap"),  # an ndarray subclass that creates files
        ("numpy", "load"),  # a numpy function, not a type
        ("sklearn.base", "defaultdict"),  # a non-sklearn type a sklearn module imports
        ("sklearn.base", "clone"),  # a sklearn function
        ("sklearn.base", "BaseEstimator.__class__"),  # attribute walk to ``type``
        ("sklearn.utils._testing", "TempMemmap"),  # test helpers are never imported
        ("scipy.sparse", "load_npz"),
    ],
)
def test_globals_off_the_allowlist_are_refused(module: str, name: str) -> None:
    with pytest.raises(flm_core.UnsafeModelError, match=f"{module}.{name}".replace(".", r"\.")):
        payload.load(frame(global_call(module, name)), None)  # type: ignore[arg-type]


def test_the_allowlist_still_admits_what_estimators_need() -> None:
    """The refusals above are not a loader that refuses everything."""
    data = pickle.dumps([np.float64(1.5), np.dtype("int32"), slice(1, 2),
                         np.random.RandomState(0), np.random.default_rng(0)], protocol=5)
    loaded = payload.load(frame(data), None)  # type: ignore[arg-type]
    assert loaded[0] == 1.5 and loaded[1] == np.dtype("int32") and loaded[2] == slice(1, 2)
    assert loaded[3].randint(1000) == np.random.RandomState(0).randint(1000)


def test_trusted_must_be_a_list_not_a_bare_string(tmp_path: Path) -> None:
    path = hostile_file(tmp_path, LogisticRegression())
    with pytest.raises(flm_core.OptionError, match="trusted"):
        flm_core.load(path, trusted="os.system")
    with pytest.raises(flm_core.OptionError, match="unsafe"):
        flm_core.load(path, unsafe="yes")


@pytest.mark.parametrize(
    ("header", "error"),
    [
        (struct.pack("<4sHHQQ", b"NOPE", 1, 0, 0, 0), "magic"),
        (struct.pack("<4sHHQQ", b"FSKL", 9, 0, 0, 0), "version"),
        (struct.pack("<4sHHQQ", b"FSKL", 1, 0, 2**62, 0), "ends inside its pickle"),
        (struct.pack("<4sHHQQ", b"FSKL", 1, 0, 4, 2**60), "ends inside its sizes"),
        (struct.pack("<4sHHQQ", b"FSKL", 1, 0, 0, 1) + struct.pack("<Q", 2**62),
         "ends inside its buffer 0"),
    ],
)
def test_lying_headers_are_format_errors_without_huge_allocations(
    header: bytes, error: str
) -> None:
    with pytest.raises(flm_core.FormatError, match=error):
        payload.load(io.BytesIO(header + b"x" * 100), None)  # type: ignore[arg-type]


def test_trailing_bytes_after_the_payload_are_a_format_error() -> None:
    stream = frame(pickle.dumps(1, protocol=5))
    stream.seek(0, io.SEEK_END)
    stream.write(b"junk")
    stream.seek(0)
    with pytest.raises(flm_core.FormatError, match="after its last buffer"):
        payload.load(stream, None)  # type: ignore[arg-type]


def test_a_malformed_pickle_is_a_format_error() -> None:
    with pytest.raises(flm_core.FormatError, match="malformed"):
        payload.load(frame(b"\x80\x05\x95garbage"), None)  # type: ignore[arg-type]


def test_bare_named_sklearn_extension_modules_are_recognised_only_when_already_loaded(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    import types

    import sklearn
    from flm_sklearn import safety

    inside = types.ModuleType("_fake_ext")
    inside.__file__ = str(Path(sklearn.__file__).parent / "_fake_ext.so")
    outside = types.ModuleType("_evil_ext")
    outside.__file__ = str(tmp_path / "_evil_ext.so")
    monkeypatch.setitem(sys.modules, "_fake_ext", inside)
    monkeypatch.setitem(sys.modules, "_evil_ext", outside)
    assert safety._sklearn_extension("_fake_ext")
    assert not safety._sklearn_extension("_evil_ext")
    assert not safety._sklearn_extension("_not_loaded_anywhere")
    assert not safety._sklearn_extension("os")
