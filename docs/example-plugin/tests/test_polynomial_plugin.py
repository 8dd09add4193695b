"""The example plugin passes the same contract as the first-party ones."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy
import pytest

import flm_core
from flm_core.plugins import Registry
from flm_core.testing import SerializerContract, assert_bit_identical


class TestPolynomialContract(SerializerContract):
    framework = "polynomial"
    distribution = "flm-polynomial"

    def make_model(self) -> Any:
        x = numpy.linspace(-1, 1, 50)
        return numpy.polynomial.Polynomial.fit(x, 3 * x**3 - x + 0.5, deg=3)

    def make_input(self) -> Any:
        return numpy.linspace(-2, 2, 11)

    def predict(self, model: Any, x: Any) -> Any:
        return model(x)

    def weights(self, model: Any) -> dict[str, Any]:
        return {"coef": model.coef, "domain": model.domain, "window": model.window}


def test_third_party_codec_is_registered_and_round_trips(tmp_path: Path) -> None:
    assert Registry.current().codecs["zstd-ultra"][1] == "flm-polynomial"
    model = TestPolynomialContract().make_model()
    written = flm_core.dump(model, tmp_path / "p.flm", compression="zstd-ultra")
    with flm_core.load(tmp_path / "p.flm") as loaded:
        assert loaded.meta.model_digest == written.model_digest
        assert_bit_identical(loaded.model.coef, model.coef)


def test_file_with_the_codec_needs_the_plugin_to_load(tmp_path: Path) -> None:
    model = TestPolynomialContract().make_model()
    flm_core.dump(model, tmp_path / "p.flm", compression="zstd-ultra")
    script = (
        "import flm_core\n"
        f"flm_core.read_meta({str(tmp_path / 'p.flm')!r})\n"
        "try:\n"
        f"    flm_core.load({str(tmp_path / 'p.flm')!r})\n"
        "except flm_core.PluginNotFoundError as exc:\n"
        "    print(exc)\n"
    )
    env = {"FLM_DISABLE_PLUGINS": "polynomial", "PATH": ""}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, check=True).stdout
    assert "pip install flm-polynomial" in out


def test_objects_no_plugin_claims_are_refused(tmp_path: Path) -> None:
    class Unknown:
        pass

    with pytest.raises(flm_core.PluginNotFoundError):
        flm_core.dump(Unknown(), tmp_path / "x.flm")
    assert not (tmp_path / "x.flm").exists()


@pytest.mark.parametrize(("expected", "actual"), [
    (numpy.array([0.0]), numpy.array([-0.0])),
    (numpy.array([1.0], dtype="float32"), numpy.array([1.0], dtype="float64")),
    (numpy.zeros((2, 3)), numpy.zeros((3, 2))),
    (numpy.frombuffer(b"\x00\x00\xc0\x7f", "float32"), numpy.frombuffer(b"\x01\x00\xc0\x7f",
                                                                      "float32")),
    (numpy.array([1.0]), numpy.array([numpy.nextafter(1.0, 2.0)])),
    (numpy.array(["a"], dtype=object), numpy.array(["b"], dtype=object)),
])
def test_bit_identity_sees_what_equality_misses(expected: Any, actual: Any) -> None:
    with pytest.raises(AssertionError):
        assert_bit_identical(expected, actual)


def test_bit_identity_ignores_record_padding_and_accepts_the_same_nan() -> None:
    record = numpy.dtype({"names": ["a", "b"], "formats": ["u1", "f8"], "offsets": [0, 8]})
    left, right = numpy.zeros(2, record), numpy.zeros(2, record)
    left.view("u1").reshape(2, 16)[:, 1:8] = 0xAB  # garbage in the padding only
    assert_bit_identical(left, right)
    assert_bit_identical(numpy.array([numpy.nan, -0.0]), numpy.array([numpy.nan, -0.0]))
    right["b"][1] = -0.0
    with pytest.raises(AssertionError):
        assert_bit_identical(left, right)
