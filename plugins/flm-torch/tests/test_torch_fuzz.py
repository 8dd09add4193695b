"""The fuzzer, time-boxed, and the corpus of past failures, replayed as regression tests.

``FLM_FUZZ_SECONDS`` sets the fuzzer's time (20 s by default, 0 skips it); CI runs the
default. A longer run on demand: ``FLM_FUZZ_SECONDS=600 pytest -k fuzz`` or the script itself.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch_payloads as tp

import flm_core
from flm_core import fuzzing

HERE = Path(__file__).parent
CORPUS = sorted((HERE / "corpus").glob("*.json"))
SECONDS = float(os.environ.get("FLM_FUZZ_SECONDS", "20"))


@pytest.mark.skipif(SECONDS <= 0, reason="FLM_FUZZ_SECONDS=0")
def test_fuzzed_payloads_give_a_model_or_an_flm_error(tmp_path: Path) -> None:
    # A child process: a crash, a hang or a runaway allocation fails this test, not the run.
    fuzzing.run_script(HERE / "fuzz_torch.py", SECONDS, tmp_path / "found")


def corpus_payload(case: dict[str, Any], genuine: tp.Genuine) -> bytes:
    if "payload" in case:
        return base64.b64decode(case["payload"])
    program = genuine.program
    for path, value in case.get("replace", []):
        program = tp.replace_at(program, tuple(path), value)
    entries = genuine.entries
    for index, field, value in case.get("manifest", []):
        entries = [dict(e) for e in entries]
        entries[index][field] = value
    return genuine.build(program, entries)


@pytest.fixture(scope="module")
def genuine() -> tp.Genuine:
    return tp.Genuine()


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_corpus_case_is_refused_with_an_flm_error(path: Path, genuine: tp.Genuine) -> None:
    case = json.loads(path.read_text())
    expected = getattr(flm_core, case["expect"])
    with pytest.raises(expected):
        tp.load(tp.flm_file(corpus_payload(case, genuine)))
