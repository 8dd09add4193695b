"""The default-deny schema admits what torch.export writes: models that exercise every part
of it (control flow, dict outputs, several inputs, attention, RNNs, embeddings, einsum,
string arguments, non-persistent buffers, dynamic shapes, bfloat16) dump and load.

Only that the schema lets them through is checked here (shapes, not values): the values of
a loaded model against its own export are the contract suite's business.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import flm_core


class Cond(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.l = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cond(x.sum() > 0, lambda x: self.l(x).relu(), lambda x: self.l(x).tanh(),
                          (x,))


class DictOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.l = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": self.l(x), "probs": F.softmax(self.l(x), -1)}


class TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.l = nn.Linear(3, 2)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.l(a) + b.sum(-1, keepdim=True), a.mean()


class Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.MultiheadAttention(8, 2, batch_first=True)
        self.n = nn.LayerNorm(8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.n(self.a(x, x, x)[0] + x)


class Recurrent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.r = nn.LSTM(4, 5, batch_first=True)
        self.g = nn.GRU(5, 3, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.g(self.r(x)[0])[0]


class Mixed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.e = nn.Embedding(10, 4)
        self.register_buffer("offset", torch.arange(4.0), persistent=False)
        self.c = nn.ConvTranspose1d(4, 2, 3)

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.e(ids) + self.offset
        y = torch.einsum("bld,d->bl", x, torch.ones(4))
        z = F.interpolate(self.c(x.transpose(1, 2)), scale_factor=2.0, mode="nearest")
        w = torch.where(y > 0, y, torch.zeros_like(y))
        return z.sum(-1) + w.sum(-1, keepdim=True), torch.div(y, 3, rounding_mode="floor")


class Reshape(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0] * 2, -1)[: x.shape[0] // 2 + 1]


MODELS: dict[str, tuple[Any, Any]] = {
    "torch.cond": (Cond, lambda: (torch.randn(2, 3),)),
    "dict output": (DictOut, lambda: (torch.randn(2, 3),)),
    "two inputs": (TwoInputs, lambda: (torch.randn(2, 3), torch.randn(2, 4))),
    "attention": (Attention, lambda: (torch.randn(2, 5, 8),)),
    "lstm and gru": (Recurrent, lambda: (torch.randn(2, 6, 4),)),
    "embedding, einsum, strings": (Mixed, lambda: (torch.randint(0, 10, (2, 5)),)),
    "dynamic reshape": (Reshape, lambda: (torch.randn(4, 6),)),
    "bfloat16": (lambda: nn.Linear(3, 2).to(torch.bfloat16),
                 lambda: (torch.randn(2, 3, dtype=torch.bfloat16),)),
}


def shapes(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    if isinstance(value, dict):
        return {key: shapes(item) for key, item in value.items()}
    return [shapes(item) for item in value]


@pytest.mark.filterwarnings("ignore::UserWarning")  # LSTM's flat weights, during export
@pytest.mark.parametrize("name", sorted(MODELS))
def test_what_torch_export_writes_passes_the_schema(name: str) -> None:
    make, inputs = MODELS[name]
    torch.manual_seed(0)
    model = make().eval()
    args = inputs()
    buffer = io.BytesIO()
    flm_core.dump(model, buffer, example_inputs=args)
    with flm_core.load(io.BytesIO(buffer.getvalue())) as artifact, torch.no_grad():
        assert shapes(artifact.model(*args)) == shapes(model(*args))


class HyphenatedKey(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleDict({"my-layer": nn.Linear(2, 2)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers["my-layer"](x)  # type: ignore[no-any-return]


def test_a_model_load_would_refuse_fails_at_dump_naming_the_place() -> None:
    from flm_torch.errors import TorchExportError

    with pytest.raises(TorchExportError, match=r"refused on load .*'layers\.my-layer'"):
        flm_core.dump(HyphenatedKey(), io.BytesIO())
