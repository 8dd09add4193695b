"""Round trips beyond the seed model: buffers, dynamic batches, dtypes, input inference."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from flm_torch import ExampleInputsError
from flm_torch._dump import export

import flm_core

torch.manual_seed(1)


class ConvNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.head = torch.nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.conv(x)))
        return self.head(x.mean(dim=(2, 3)))


class Mlp(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.ReLU(),
                                       torch.nn.Linear(16, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def trained_convnet() -> ConvNet:
    model = ConvNet()
    model.train()
    for _ in range(3):  # move the running stats away from their defaults
        model(torch.randn(4, 3, 16, 16))
    return model.eval()


def round_trip(model: torch.nn.Module, path: Path, **options: object) -> torch.nn.Module:
    flm_core.dump(model, path, **options)
    return flm_core.load(path).model


def assert_faithful(loaded: torch.nn.Module, model: torch.nn.Module, x: torch.Tensor,
                    **options: object) -> None:
    """The loaded program computes exactly what the same export computes in this process.

    Against the eager module the check is torch.testing's float32 tolerance (rtol 1.3e-6,
    atol 1e-5): export may route an op to another kernel (eval batch_norm becomes
    _native_batch_norm_legit_no_training), which may round differently on some CPUs. That gap
    is torch's, not the round trip's.
    """
    reference = export(model, options.get("example_inputs"), options.get("dynamic_shapes"))
    with torch.no_grad():
        got = loaded(x)
        assert torch.equal(got, reference.module()(x))
        assert got.dtype == model(x).dtype
        torch.testing.assert_close(got, model(x))


def test_convnet_with_batchnorm_buffers_round_trips(tmp_path: Path) -> None:
    model = trained_convnet()
    example = (torch.randn(2, 3, 16, 16),)
    loaded = round_trip(model, tmp_path / "conv.flm", example_inputs=example)
    assert_faithful(loaded, model, torch.randn(5, 3, 16, 16), example_inputs=example)
    info = flm_core.read_meta(tmp_path / "conv.flm").model.info
    assert info["buffers"]["bn.running_mean"] == {"shape": [8], "dtype": "float32"}
    assert info["modules"]["conv"]["repr"].startswith("Conv2d(3, 8, kernel_size=(3, 3)")


def test_dump_restores_the_models_training_flag(tmp_path: Path) -> None:
    model = trained_convnet().train()
    flm_core.dump(model, tmp_path / "m.flm", example_inputs=torch.randn(2, 3, 8, 8))
    assert model.training


def test_model_needing_example_inputs_fails_with_the_call_to_make(tmp_path: Path) -> None:
    with pytest.raises(ExampleInputsError, match=r"example_inputs=\(torch\.randn") as info:
        flm_core.dump(trained_convnet(), tmp_path / "conv.flm")
    assert isinstance(info.value, flm_core.FLMError)
    assert "Conv2d" in str(info.value)
    assert not (tmp_path / "conv.flm").exists()


def test_inferred_linear_input_has_a_dynamic_batch(tmp_path: Path) -> None:
    model = Mlp().eval()
    loaded = round_trip(model, tmp_path / "mlp.flm")
    for batch in (1, 7, 33):
        assert_faithful(loaded, model, torch.randn(batch, 5))
    info = flm_core.read_meta(tmp_path / "mlp.flm").model.info
    assert info["total_parameters"] == 5 * 16 + 16 + 16 * 3 + 3
    assert info["inputs"][0]["shape"][1] == 5 and isinstance(info["inputs"][0]["shape"][0], str)
    assert info["parameters"]["net.0.weight"] == {"shape": [16, 5], "dtype": "float32"}


def test_given_example_inputs_get_a_dynamic_batch_dimension(tmp_path: Path) -> None:
    model = trained_convnet()
    example = (torch.randn(2, 3, 16, 16),)
    loaded = round_trip(model, tmp_path / "conv.flm", example_inputs=example)
    assert_faithful(loaded, model, torch.randn(7, 3, 16, 16), example_inputs=example)


def test_a_model_that_pins_its_batch_falls_back_to_a_static_export(tmp_path: Path) -> None:
    class Pinned(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.reshape(12) * 2

    loaded = round_trip(Pinned(), tmp_path / "p.flm", example_inputs=(torch.randn(3, 4),))
    x = torch.randn(3, 4)
    assert torch.equal(loaded(x), x.reshape(12) * 2)  # doubling is exact in any float
    with pytest.raises(Exception, match="3"):
        loaded(torch.randn(5, 4))


def test_explicit_dynamic_shapes_are_passed_to_export(tmp_path: Path) -> None:
    model = Mlp().eval()
    batch = torch.export.Dim("batch", min=1, max=8)
    example = (torch.randn(4, 5),)
    loaded = round_trip(model, tmp_path / "mlp.flm", example_inputs=example,
                        dynamic_shapes=({0: batch},))
    assert_faithful(loaded, model, torch.ones(8, 5), example_inputs=example,
                    dynamic_shapes=({0: batch},))
    with pytest.raises(Exception, match="8"):
        loaded(torch.ones(9, 5))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64, torch.int64,
                                   torch.bool, torch.complex64, torch.uint8])
def test_buffers_of_every_dtype_round_trip_bit_exactly(dtype: torch.dtype, tmp_path: Path) -> None:
    class Holder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("table", (torch.randn(6, 5) * 50).to(dtype))
            self.register_buffer("scratch", torch.arange(3), persistent=False)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return self.table + x.to(dtype), self.scratch * 2

    model = Holder()
    loaded = round_trip(model, tmp_path / "h.flm", example_inputs=(torch.zeros(6, 5),))
    table, scratch = loaded(torch.zeros(6, 5))
    assert table.dtype == dtype and torch.equal(table, model.table)
    assert torch.equal(scratch, torch.arange(3) * 2)


def test_bad_example_inputs_are_rejected_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(ExampleInputsError, match="example_inputs"):
        flm_core.dump(Mlp(), tmp_path / "m.flm", example_inputs={"x": torch.ones(1, 5)})


def test_unknown_dump_options_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(flm_core.OptionError, match="example_inputs"):
        flm_core.dump(Mlp(), tmp_path / "m.flm", example_input=torch.ones(1, 5))
