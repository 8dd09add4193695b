"""The core's serializer contract, run for flm-torch on the seed XOR model."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

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

    def assert_same(self, expected: Any, actual: Any) -> None:
        assert expected.dtype == actual.dtype and expected.shape == actual.shape
        np.testing.assert_array_equal(expected, actual)
