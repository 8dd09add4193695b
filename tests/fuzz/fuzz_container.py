"""Coverage-guided fuzzing of the container with atheris (libFuzzer), over the same target
as the property test. ``nox -s fuzz`` runs it time-boxed; for longer::

    FLM_FUZZ_SECONDS=3600 nox -s fuzz

A finding is saved as ``crash-*`` in the artifact directory nox prints: copy it into
``tests/fuzz/corpus/container/`` so ``test_past_fuzzer_findings_stay_fixed`` keeps it fixed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

with atheris.instrument_imports(include=["flm_core"]):
    import flm_core.api
    import flm_core.artifact
    import flm_core.codecs
    import flm_core.container.reader
    import flm_core.container.sections
    import flm_core.limits
    import flm_core.meta
    import flm_core.schema  # noqa: F401 - imported to be instrumented

from tests.fuzz.container_target import run_one


def main() -> None:
    atheris.Setup(sys.argv, run_one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
