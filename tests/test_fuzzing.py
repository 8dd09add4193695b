"""The shared fuzz driver that the plugins' payload fuzzers run on (flm_core.fuzzing)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st

import flm_core
from flm_core import fuzzing


def test_a_run_counts_outcomes_and_prints_its_summary(capsys: pytest.CaptureFixture[str],
                                                      tmp_path: Path) -> None:
    outcomes = iter(["model", "FormatError"] * 1000)
    assert fuzzing.run(st.integers(0, 9), lambda edit: bytes([edit]),
                       lambda payload: next(outcomes), 0.2, tmp_path) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["executions"] > 0
    assert set(summary["outcomes"]) == {"model", "FormatError"}
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_a_broken_property_is_raised_and_its_payload_saved(tmp_path: Path) -> None:
    def check(payload: bytes) -> str:
        raise ValueError("not an FLMError")

    with pytest.raises(ValueError, match="not an FLMError"):
        fuzzing.run(st.just({"kind": "bytes"}), lambda edit: b"\x00evil", check, 5, tmp_path)
    (case,) = [json.loads(p.read_text()) for p in tmp_path.iterdir()]
    assert base64.b64decode(case["payload"]) == b"\x00evil"
    assert case["expect"] == "FLMError" and "ValueError" in case["why"]


def test_outcome_names_the_flm_error_or_says_model(tmp_path: Path) -> None:
    marker = tmp_path / "ran"

    def refuse(payload: bytes) -> Any:
        raise flm_core.FormatError("no")

    assert fuzzing.outcome(refuse, b"", object, marker) == "FormatError"
    assert fuzzing.outcome(lambda payload: 3, b"", int, marker) == "model"
    with pytest.raises(AssertionError):
        fuzzing.outcome(lambda payload: "3", b"", int, marker)  # not the framework's model
    with pytest.raises(KeyError):
        fuzzing.outcome(lambda payload: {}["x"], b"", int, marker)  # any other exception

    def runs_a_command(payload: bytes) -> int:
        marker.touch()
        return 3

    with pytest.raises(AssertionError, match="command hidden in the payload ran"):
        fuzzing.outcome(runs_a_command, b"", int, marker)


def test_json_paths_and_replace_at_edit_a_copy_anywhere() -> None:
    value = {"a": [1, {"b": 2}], "c": None}
    paths = set(fuzzing.json_paths(value))
    assert paths == {(), ("a",), ("a", 0), ("a", 1), ("a", 1, "b"), ("c",)}
    assert fuzzing.replace_at(value, ("a", 1, "b"), "x") == {"a": [1, {"b": "x"}], "c": None}
    assert value["a"][1] == {"b": 2}  # the original is untouched
    assert fuzzing.replace_at(value, (), 7) == 7
