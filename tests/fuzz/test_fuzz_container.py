"""The container fuzzer as a property test, and the corpus of past failures as regressions.

``FLM_FUZZ_EXAMPLES=20000 pytest tests/fuzz`` runs longer; ``nox -s fuzz`` runs atheris.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.container_target import Choices, build, mutate, run_one, seed_parts

CORPUS = Path(__file__).parent / "corpus" / "container"
EXAMPLES = int(os.environ.get("FLM_FUZZ_EXAMPLES", "300"))


def test_the_seed_file_is_valid() -> None:
    import io

    import flm_core
    from tests.fuzz.container_target import register

    register()
    data = build(seed_parts())
    assert flm_core.verify(io.BytesIO(data)).model_digest
    with flm_core.load(io.BytesIO(data)) as loaded:
        assert loaded.model == bytes(range(256)) * 3


def test_mutations_change_the_file() -> None:
    seed = build(seed_parts())
    changed = {build(mutate(seed_parts(), Choices(bytes([i, 7, 3, 250, i])))) != seed
               for i in range(64)}
    assert changed == {True}


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=256))
def test_any_mutation_gives_a_model_or_an_flm_error(data: bytes) -> None:
    run_one(data)


@pytest.mark.parametrize("case", sorted(CORPUS.glob("*")), ids=lambda p: p.name)
def test_past_fuzzer_findings_stay_fixed(case: Path) -> None:
    run_one(case.read_bytes())
