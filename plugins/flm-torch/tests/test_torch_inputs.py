"""Tied weights stored once and tied again; example inputs inferred from the first layer."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
from flm_torch import ExampleInputsError, _dump, _format

import flm_core


class TiedLM(torch.nn.Module):
    """The usual language-model tie: the output layer reuses the embedding matrix."""

    def __init__(self, vocab: int = 50, width: int = 16) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, width)
        self.body = torch.nn.Linear(width, width)
        self.head = torch.nn.Linear(width, vocab, bias=False)
        self.head.weight = self.embed.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.body(self.embed(ids))))


def entries(model: torch.nn.Module, **options: object) -> tuple[list[dict[str, object]], int]:
    sink = io.BytesIO()
    _dump.dump(model, **options).write(sink)
    stream = io.BytesIO(sink.getvalue())
    found, _ = _format.read_header(stream)
    return found, len(stream.read())


def test_tied_weights_are_stored_once() -> None:
    torch.manual_seed(0)
    found, weight_bytes = entries(TiedLM())
    ties = [e for e in found if "tie" in e]
    assert len(ties) == 1 and {ties[0]["name"], ties[0]["tie"]} == {"embed.weight", "head.weight"}
    assert weight_bytes == (50 * 16 + 16 * 16 + 16) * 4  # the 50x16 matrix once


def test_tied_weights_are_one_tensor_again_after_load(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = TiedLM().eval()
    flm_core.dump(model, tmp_path / "lm.flm")
    loaded = flm_core.load(tmp_path / "lm.flm").model
    # torch 2.6's export keeps one of the two names; later releases keep both, one object
    matrices = [p for _, p in loaded.named_parameters(remove_duplicate=False)
                if p.shape == (50, 16)]
    assert matrices and all(p is matrices[0] for p in matrices)
    assert sum(p.numel() for p in loaded.parameters()) == 50 * 16 + 16 * 16 + 16
    ids = torch.randint(0, 50, (3, 7))
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids), model(ids))


def test_a_file_without_ties_keeps_the_first_layout(tmp_path: Path) -> None:
    sink = io.BytesIO()
    _dump.dump(torch.nn.Linear(3, 2)).write(sink)
    assert _format.HEADER.unpack_from(sink.getvalue())[1] == _format.VERSION


@pytest.mark.parametrize("tie", ["nowhere", "later", "self"])
def test_a_tie_to_no_earlier_tensor_is_a_format_error(tie: str) -> None:
    base = {"role": "parameter", "dtype": "float32", "shape": [2], "requires_grad": True}
    target = {"nowhere": "missing", "later": "b", "self": "a"}[tie]
    manifest = {"tensors": [dict(base, name="a", tie=target), dict(base, name="b")]}
    with pytest.raises(flm_core.FormatError, match="tied tensor"):
        _format._check_manifest(manifest, _format.VERSION_TIES)


def test_an_embedding_model_gets_integer_ids_with_dynamic_batch_and_length(
    tmp_path: Path,
) -> None:
    torch.manual_seed(0)
    model = TiedLM().eval()
    flm_core.dump(model, tmp_path / "lm.flm")
    loaded = flm_core.load(tmp_path / "lm.flm").model
    info = flm_core.read_meta(tmp_path / "lm.flm").model.info
    assert info["inputs"][0]["dtype"] == "int64"
    for shape in [(1, 3), (4, 11)]:
        ids = torch.randint(0, 50, shape)
        with torch.no_grad():
            torch.testing.assert_close(loaded(ids), model(ids))


def test_input_shape_sets_the_sequence_length_of_an_embedding_model(tmp_path: Path) -> None:
    model = TiedLM().eval()
    flm_core.dump(model, tmp_path / "lm.flm", input_shape=(5,))
    assert flm_core.load(tmp_path / "lm.flm").model(torch.zeros(2, 5, dtype=torch.long)).shape \
        == (2, 5, 50)


class Stem(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.head = torch.nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def test_a_conv_stem_exports_from_input_shape_with_a_dynamic_batch(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Stem().eval()
    flm_core.dump(model, tmp_path / "stem.flm", input_shape=(3, 12, 12))
    loaded = flm_core.load(tmp_path / "stem.flm").model
    x = torch.randn(5, 3, 12, 12)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))


@pytest.mark.parametrize(("shape", "expected"), [
    (None, r"input_shape=\(3, H, W\)"),
    ((4, 12, 12), r"input_shape=\(4, 12, 12\) does not start with.*input_shape=\(3, H, W\)"),
])
def test_a_conv_stem_without_a_fitting_shape_says_exactly_what_to_pass(
    shape: tuple[int, ...] | None, expected: str, tmp_path: Path,
) -> None:
    with pytest.raises(ExampleInputsError, match=expected) as info:
        flm_core.dump(Stem(), tmp_path / "stem.flm", input_shape=shape)
    assert "example_inputs" in str(info.value)
    assert not (tmp_path / "stem.flm").exists()


@pytest.mark.parametrize("shape", [(0, 3), ("3",), (), 2.5])
def test_a_malformed_input_shape_is_refused(shape: object, tmp_path: Path) -> None:
    with pytest.raises(ExampleInputsError, match="input_shape must be a tuple of positive ints"):
        flm_core.dump(Stem(), tmp_path / "stem.flm", input_shape=shape)


def test_input_shape_and_example_inputs_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ExampleInputsError, match="not both"):
        flm_core.dump(Stem(), tmp_path / "s.flm", input_shape=(3, 8, 8),
                      example_inputs=(torch.randn(2, 3, 8, 8),))
