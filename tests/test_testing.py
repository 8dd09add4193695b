"""The contract suite's comparison: identical computations must agree bit for bit."""

from __future__ import annotations

import importlib.util

import pytest

from flm_core.testing import SerializerContract, assert_bit_identical


def test_equal_structures_pass() -> None:
    assert_bit_identical({"a": (1, b"x", "y", [2.5])}, {"a": (1, b"x", "y", [2.5])})


@pytest.mark.parametrize(("expected", "actual"), [
    (b"x", b"y"), (b"x", "x"), ("x", "y"), ((1, 2), [1, 2]), ((1, 2), (1, 2, 3)),
    ({"a": 1}, {"b": 1}), ({"a": 1}, {"a": 2}), ([b"x"], [b"z"]),
])
def test_any_difference_fails(expected: object, actual: object) -> None:
    with pytest.raises(AssertionError):
        assert_bit_identical(expected, actual)


@pytest.mark.skipif(importlib.util.find_spec("numpy") is not None,
                    reason="the numpy path is tested in the example plugin's suite")
def test_without_numpy_scalars_compare_with_equality() -> None:
    assert_bit_identical(0.5, 0.5)
    with pytest.raises(AssertionError):
        assert_bit_identical(0.5, 0.25)


def test_a_plugin_suite_must_say_what_its_weights_are() -> None:
    with pytest.raises(NotImplementedError, match="weights"):
        SerializerContract().weights(object())


def test_the_reference_is_the_model_itself_by_default() -> None:
    model = object()
    assert SerializerContract().reference(model) is model
