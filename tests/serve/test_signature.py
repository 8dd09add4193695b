"""Signatures: recorded at dump, read back, checked strictly; inputs checked before any
framework sees them. (Here, not in tests/: they need numpy, which the core does not.)"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

import flm_core
from flm_core.signature import Signature, TensorSpec, check_inputs

numpy = pytest.importorskip("numpy", reason="needs numpy (nox -s serve)")

SIG = Signature(inputs=[TensorSpec("input", "float32", [-1, 2], ["a", "b"])],
                outputs=[TensorSpec("output", "int64", [-1])])


def test_signature_round_trips_through_json() -> None:
    assert Signature.from_dict(json.loads(json.dumps(SIG.to_dict()))) == SIG


@pytest.mark.parametrize("bad", [
    [], {"inputs": "x"}, {"inputs": [], "outputs": [], "code": "x"},
    {"inputs": [{"name": "x", "dtype": "object", "shape": [1]}]},
    {"inputs": [{"name": "x", "dtype": "float32", "shape": [-2]}]},
    {"inputs": [{"name": "x", "dtype": "float32", "shape": [1.5]}]},
    {"inputs": [{"name": "x", "dtype": "float32", "shape": [True]}]},
    {"inputs": [{"name": "x", "dtype": "float32", "shape": [1] * 33}]},
    {"inputs": [{"name": "x", "dtype": "float32", "shape": [1], "columns": [1]}]},
    {"inputs": [{"name": "x", "dtype": "float32", "shape": [1], "loader": "os.system"}]},
])
def test_a_malformed_signature_in_a_file_is_a_format_error(bad: Any) -> None:
    with pytest.raises(flm_core.FormatError):
        Signature.from_dict(bad)


def test_inputs_are_cast_to_the_signature_dtype() -> None:
    checked = check_inputs(SIG, [[0, 1], [1, 1]])
    assert checked.dtype == numpy.float32 and checked.shape == (2, 2)
    assert check_inputs(SIG, {"input": [[0.5, 1]]}).dtype == numpy.float32


@pytest.mark.parametrize(("inputs", "says"), [
    ([[0, 1, 2]], "2 features; got shape [1, 3]"),
    ([0, 1], "rank 2"),
    ([["a", "b"]], "non-numeric value (strings)"),
    ([[0], [1, 2]], "not a rectangular array"),
    ({"other": [[0, 1]]}, "expected the inputs ['input']"),
    ([[None, 1]], "not a rectangular array of numbers"),
])
def test_inputs_that_do_not_fit_raise_input_error(inputs: Any, says: str) -> None:
    with pytest.raises(flm_core.InputError) as caught:
        check_inputs(SIG, inputs)
    assert says in str(caught.value)


def test_floats_are_refused_where_integers_are_expected() -> None:
    ints = Signature(inputs=[TensorSpec("ids", "int64", [-1])])
    assert check_inputs(ints, [1, 2]).dtype == numpy.int64
    with pytest.raises(flm_core.InputError, match="do not convert without loss"):
        check_inputs(ints, [1.5, 2.0])


def test_several_inputs_go_by_name() -> None:
    two = Signature(inputs=[TensorSpec("a", "float64", [-1]), TensorSpec("b", "int32", [-1])])
    checked = check_inputs(two, {"b": [1], "a": [2.0]})
    assert list(checked) == ["a", "b"] and checked["b"].dtype == numpy.int32
    with pytest.raises(flm_core.InputError, match="give them by name"):
        check_inputs(two, [[1.0]])


def test_without_a_signature_any_rectangular_input_goes_through() -> None:
    assert check_inputs(None, [["x", "y"]]).shape == (1, 2)
    with pytest.raises(flm_core.InputError):
        check_inputs(None, [[1], [1, 2]])


def test_a_file_without_a_signature_reads_as_before(register: Any, toy: Any,
                                                    tmp_path: Path) -> None:
    written = flm_core.dump(toy.model(), tmp_path / "toy.flm")
    assert written.model.signature is None
    assert "signature" not in written.to_dict()["model"]
    assert flm_core.read_meta(tmp_path / "toy.flm").model.signature is None


def test_input_example_infers_a_signature_where_the_plugin_records_none(
        toy: Any, tmp_path: Path) -> None:
    written = flm_core.dump(toy.model(), tmp_path / "toy.flm", input_example=[[1, 2, 3]])
    assert written.model.signature == Signature(
        inputs=[TensorSpec("input", "int64", [-1, 3])], example=[[1, 2, 3]])
    assert flm_core.read_meta(tmp_path / "toy.flm").model.signature == written.model.signature


def test_input_example_must_be_small(toy: Any, tmp_path: Path) -> None:
    with pytest.raises(flm_core.InputError, match="few rows"):
        flm_core.dump(toy.model(), tmp_path / "toy.flm", input_example=numpy.zeros((100, 101)))


def test_the_toy_plugin_cannot_predict(toy: Any, tmp_path: Path) -> None:
    flm_core.dump(toy.model(), tmp_path / "toy.flm")
    with flm_core.load(tmp_path / "toy.flm") as loaded, pytest.raises(
            flm_core.PredictionNotSupportedError, match="flm-toy implements no predict"):
        flm_core.predict(loaded, [[1.0]])


def test_metadata_round_trips_with_a_signature(toy: Any) -> None:
    out = io.BytesIO()
    written = flm_core.dump(toy.model(), out, input_example=[[1.0]])
    assert flm_core.Metadata.from_dict(json.loads(json.dumps(written.to_dict()))) == written
