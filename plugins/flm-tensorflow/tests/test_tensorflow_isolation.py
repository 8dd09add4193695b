"""Importing the plugin, discovering it and reading metadata must not import TF or Keras."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import flm_core

# Keras 3.15's model.save on TensorFlow trips a numpy 2 DeprecationWarning inside Keras
# (keras/src/backend/tensorflow/core.py); not ours to fix, and hidden outside pytest anyway.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

QUIET_ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
HEAVY = "{'tensorflow', 'keras', 'tf_keras', 'h5py'}"


def run(script: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], env={**QUIET_ENV, **env},
        capture_output=True, text=True, timeout=120,
    )


@pytest.fixture(scope="module")
def flm_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    path = tmp_path_factory.mktemp("iso") / "model.flm"
    flm_core.dump(model, path)
    return path


def test_entry_point_discovery_finds_the_tensorflow_serializer() -> None:
    result = run("""
        from flm_core.plugins import Registry
        assert Registry.current().serializers["tensorflow"][1] == "flm-tensorflow"
        print("found")
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "found"


def test_disabled_plugin_is_not_discovered() -> None:
    result = run("""
        from flm_core.plugins import Registry
        print("tensorflow" in Registry.current().serializers)
    """, FLM_DISABLE_PLUGINS="tensorflow")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_import_discovery_and_read_meta_import_neither_tensorflow_nor_keras(
    flm_file: Path,
) -> None:
    result = run(f"""
        import sys
        import flm_core, flm_tensorflow
        from flm_core.plugins import Registry
        serializer = Registry.current().serializers["tensorflow"][0]
        assert not serializer.can_serialize(object())
        assert serializer.framework_version()
        meta = flm_core.read_meta({str(flm_file)!r})
        assert meta.framework.lib == "tensorflow"
        assert flm_core.verify({str(flm_file)!r}).model_digest == meta.model_digest
        print(sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY}))
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_probe_above_sees_a_heavy_import() -> None:
    # Guards the guard: the same probe reports a listed module once one is imported (h5py,
    # which keras needs anyway, and which imports in a fraction of TensorFlow's time).
    result = run(f"""
        import sys
        import h5py
        print(sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY}))
    """)
    assert result.returncode == 0, result.stderr
    assert "'h5py'" in result.stdout
