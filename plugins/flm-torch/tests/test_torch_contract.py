"""The core's serializer contract, run for flm-torch on the seed XOR model.

flm-torch stores the model's ``torch.export`` program, so the reference a loaded model must
match bit for bit is that program, exported in this process. How close the export stays to the
eager module is torch's promise, checked with a tolerance in ``test_torch_models``.
"""

from __future__ import annotations

from typing import Any

import torch
from flm_torch._dump import export

from flm_core.testing import SerializerContract

XOR_X = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
XOR_Y = [[0.0], [1.0], [1.0], [0.0]]


class Model(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.l1 = torch.nn.Linear(2, 10)
        self.l2 = torch.nn.Linear(10, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.tanh(self.l1(x))
        return torch.sigmoid(self.l2(x))


def train_xor(steps: int = 300) -> Model:
    torch.manual_seed(0)
    model = Model()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    x, y = torch.tensor(XOR_X), torch.tensor(XOR_Y)
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.binary_cross_entropy(model(x), y).backward()
        optimizer.step()
    return model


class TestTorchContract(SerializerContract):
    framework = "torch"
    distribution = "flm-torch"

    def make_model(self) -> Any:
        model = train_xor()
        assert (model(torch.tensor(XOR_X)).round() == torch.tensor(XOR_Y)).all()
        return model

    def make_input(self) -> Any:
        return torch.tensor(XOR_X)

    def predict(self, model: Any, x: Any) -> Any:
        with torch.no_grad():
            return model(x).detach().numpy()

    def reference(self, model: Any) -> Any:
        return export(model, None, None).module()

    def weights(self, model: Any) -> dict[str, Any]:
        return tensor_bytes(model)


def tensor_bytes(model: torch.nn.Module) -> dict[str, Any]:
    """Each parameter and buffer as (dtype, shape, raw bytes): bfloat16 has no numpy dtype."""
    return {
        name: (str(t.dtype), tuple(t.shape),
               t.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
        for name, t in model.state_dict().items()
    }
