"""What ``--quick`` and ``--full`` measure: workloads, methods and repeat counts."""

from __future__ import annotations

import dataclasses

from benchmarks.peers import FLAMA_CODECS, FLM_CODECS

FLM_ALL = [f"flm-{c}" for c in FLM_CODECS]
FLAMA_ALL = [f"flama-{c}" for c in FLAMA_CODECS]
SKLEARN_NATIVE = ["pickle", "joblib", "skops"]
TORCH_NATIVE = ["torch.export", "torch.save"]


@dataclasses.dataclass(frozen=True)
class Case:
    """One workload and the methods measured on it, ``reps`` fresh children each.

    ``inner`` > 1 repeats the operation inside each child: tiny models take milliseconds, so
    the warm median of in-process calls is what resolves them (the seed measured them so).
    ``split`` runs dump and load in separate children so each gets its own peak RSS.
    """

    workload: str
    methods: tuple[str, ...]
    reps: int
    inner: int = 1
    split: bool = True
    # Peers too slow to repeat (flama base64-encodes and JSON-lists every weight): run once.
    single: tuple[str, ...] = ()

    def reps_for(self, method: str) -> int:
        return 1 if method in self.single else self.reps


def cases(full: bool) -> list[Case]:
    """Quick keeps what the targets need (each fresh torch/keras process costs 3-10 s of
    imports here) and the torch scaling series; full adds every codec everywhere, medium
    keras and torch.save."""
    reps = 5 if full else 3
    tiny_flm = FLM_ALL if full else ["flm-zstd"]
    tiny_flama = FLAMA_ALL if full else ["flama-zstd"]
    # The seed's table: every FLM codec against every flama compression, in both modes.
    plan = [Case("tiny-sklearn", (*FLM_ALL, *FLAMA_ALL, *SKLEARN_NATIVE), reps, inner=20,
                 split=False),
            Case("tiny-torch", (*tiny_flm, *tiny_flama, *TORCH_NATIVE), reps, inner=20,
                 split=False),
            Case("tiny-keras", (*tiny_flm, *tiny_flama, "keras"), reps, inner=10, split=False)]
    if not full:
        # The scaling series, 50 MB to 1.6 GB, so growth in time and memory shows every run.
        return [*plan,
                Case("medium-sklearn", ("flm-zstd", "flama-zstd", "pickle", "joblib"), reps),
                *[Case(f"torch-{mb}MB", ("flm-zstd", "flm-none", "torch.export"), reps)
                  for mb in (50, 100, 200, 400, 800, 1600)]]
    plan += [
        Case("medium-sklearn", ("flm-zstd", "flm-zlib", "flm-none", "flama-zstd",
                                *SKLEARN_NATIVE), reps),
        Case("medium-keras", ("flm-zstd", "flm-none", "flama-zstd", "keras"), reps),
        Case("torch-400MB", ("flm-zstd", "flm-zlib", "flm-none", *TORCH_NATIVE, "flama-zstd"),
             reps, single=("flama-zstd",)),
    ]
    for mb in (50, 100, 200, 800, 1600):
        plan.append(Case(f"torch-{mb}MB", ("flm-zstd", "flm-none", *TORCH_NATIVE),
                         reps if mb <= 400 else 3))
    return plan


def import_repeats(full: bool) -> int:
    return 30 if full else 15


def first_call_repeats(full: bool) -> int:
    return 15 if full else 9


def read_meta_inner() -> int:
    return 50
