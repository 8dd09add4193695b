"""Write the cross-version fixtures: a small model dumped by the torch this runs under.

Run it once per torch release the matrix tests (the lowest and the newest):

    python plugins/flm-torch/tests/make_fixtures.py plugins/flm-torch/tests/data

It writes ``torch-<version>.flm`` and ``torch-<version>.json`` (an input, the output this
torch computed, and the sha256 of every weight); ``test_torch_versions`` loads each file
with whatever torch it runs under.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import torch

import flm_core


class Fixture(torch.nn.Module):
    """Token ids in, logits out: an embedding tied to the output layer, a buffer, a
    device-typed arange, and a dynamic batch and sequence length."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(11, 6)
        self.mix = torch.nn.Linear(6, 6)
        self.out = torch.nn.Linear(6, 11, bias=False)
        self.out.weight = self.embed.weight
        self.register_buffer("scale", torch.linspace(0.5, 1.5, 6))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids) * self.scale
        position = torch.arange(ids.shape[1], device=ids.device).unsqueeze(-1)
        return self.out(torch.tanh(self.mix(x) + position))


def weight_digests(module: torch.nn.Module) -> dict[str, str]:
    return {name: hashlib.sha256(t.detach().contiguous().view(torch.uint8).numpy()).hexdigest()
            for name, t in module.state_dict().items()}


def main(folder: Path) -> None:
    torch.manual_seed(0)
    model = Fixture().eval()
    version = str(torch.__version__).split("+")[0]
    path = folder / f"torch-{version}.flm"
    flm_core.dump(model, path)
    ids = torch.tensor([[1, 2, 3, 4, 5], [10, 9, 8, 7, 0], [0, 0, 1, 1, 2]])
    with torch.no_grad():
        expected = model(ids)
    record = {"torch": str(torch.__version__), "ids": ids.tolist(),
              "output": expected.tolist(), "weights": weight_digests(model)}
    path.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    print(path)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
