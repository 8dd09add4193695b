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

import keras_payloads as kp
import pytest

import flm_core
from flm_core import fuzzing

HERE = Path(__file__).parent
CORPUS = sorted((HERE / "corpus").glob("*.json"))
SECONDS = float(os.environ.get("FLM_FUZZ_SECONDS", "20"))


@pytest.mark.skipif(SECONDS <= 0, reason="FLM_FUZZ_SECONDS=0")
def test_fuzzed_payloads_give_a_model_or_an_flm_error(tmp_path: Path) -> None:
    # A child process: a crash, a hang or a runaway allocation fails this test, not the run.
    fuzzing.run_script(HERE / "fuzz_keras.py", SECONDS, tmp_path / "found",
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})


def corpus_payload(case: dict[str, Any], genuine: kp.Genuine) -> bytes:
    if "payload" in case:
        return base64.b64decode(case["payload"])
    config = genuine.config
    for path, value in case.get("replace", []):
        config = kp.replace_at(config, tuple(path), value)
    members = {name: None if data is None else base64.b64decode(data)
               for name, data in case.get("members", {}).items()}
    return genuine.build(config, members)


@pytest.fixture(scope="module")
def genuine() -> kp.Genuine:
    return kp.Genuine()


@pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_corpus_case_is_refused_with_an_flm_error(path: Path, genuine: kp.Genuine) -> None:
    case = json.loads(path.read_text())
    expected = getattr(flm_core, case["expect"])
    with pytest.raises(expected):
        kp.load(kp.flm_file(corpus_payload(case, genuine)))
