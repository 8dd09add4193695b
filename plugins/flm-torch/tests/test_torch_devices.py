"""Where weights go: load(device=...), bounded staging in both directions, and files dumped
on a GPU loading on a machine without one. The CUDA tests skip, saying so, where no GPU is
present; everything else runs on the CPU."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch
from flm_torch import _compat, _devices, _dump, _format

import flm_core
from flm_core import Payload

NO_GPU = "no CUDA GPU visible to torch here (torch.cuda.is_available() is False)"
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_GPU)


class Ranged(torch.nn.Module):
    """Creates a tensor inside forward, so the program names a device of its own."""

    def __init__(self) -> None:
        super().__init__()
        self.l1 = torch.nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.l1(x) + torch.arange(4, device=x.device)


def dumped(tmp_path: Path, model: torch.nn.Module | None = None) -> tuple[torch.nn.Module, Path]:
    torch.manual_seed(0)
    model = (model or Ranged()).eval()
    path = tmp_path / "m.flm"
    flm_core.dump(model, path)
    return model, path


@pytest.mark.parametrize("device", [None, "cpu", torch.device("cpu")])
def test_load_places_weights_on_the_cpu_by_default_or_when_asked(
    device: object, tmp_path: Path,
) -> None:
    model, path = dumped(tmp_path)
    options = {} if device is None else {"device": device}
    loaded = flm_core.load(path, **options).model
    assert {p.device.type for p in loaded.parameters()} == {"cpu"}
    x = torch.randn(3, 4)
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x))


def test_an_unknown_device_is_an_option_error(tmp_path: Path) -> None:
    _, path = dumped(tmp_path)
    with pytest.raises(flm_core.OptionError, match="not a torch device"):
        flm_core.load(path, device="gpu-please")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
def test_asking_for_cuda_without_a_gpu_says_to_load_on_the_cpu(tmp_path: Path) -> None:
    _, path = dumped(tmp_path)
    with pytest.raises(flm_core.FLMError, match="device='cpu'"):
        flm_core.load(path, device="cuda:0")


def test_staged_reads_fill_tensors_piece_by_piece() -> None:
    """The staging path GPUs take, run on the CPU with a tiny buffer."""
    data = torch.arange(1000, dtype=torch.float32)
    entry = {"name": "w", "shape": [10, 100]}
    reader = _devices.Reader(torch.device("cpu"), staging=64)
    reader.direct = False
    got = reader.read(io.BytesIO(data.numpy().tobytes()), entry, torch.float32)
    reader.finish()
    assert torch.equal(got, data.reshape(10, 100))
    with pytest.raises(flm_core.FormatError, match="ends inside tensor 'w'"):
        reader.read(io.BytesIO(data.numpy().tobytes()[:-1]), entry, torch.float32)


class Sink(io.RawIOBase):
    def __init__(self) -> None:
        self.data, self.writes = bytearray(), []

    def writable(self) -> bool:
        return True

    def write(self, b: object) -> int:
        view = memoryview(b)  # type: ignore[arg-type]
        self.writes.append((view.nbytes, view.itemsize))
        self.data += view.cast("B")
        return view.nbytes


def test_device_writes_go_through_a_bounded_buffer_keeping_the_itemsize() -> None:
    tensor = torch.randn(1000, dtype=torch.float64)
    sink = Sink()
    _devices.write_from_device(sink, _format.flat_view(tensor), staging=800)
    assert bytes(sink.data) == tensor.numpy().tobytes()
    assert sink.writes == [(800, 8)] * 10


def gpu_program_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Ranged]:
    """A file as a CUDA machine writes it: every device in the program says cuda:0."""
    torch.manual_seed(0)
    model = Ranged().eval()
    sink = io.BytesIO()
    _dump.dump(model).write(sink)
    stream = io.BytesIO(sink.getvalue())
    entries, program_bytes = _format.read_header(stream)
    program = json.loads(program_bytes)
    assert _compat.retarget_devices(program, torch.device("cuda", 0)) > 0
    out = io.BytesIO()
    _format.write_header(out, {"tensors": entries}, json.dumps(program).encode())
    data = out.getvalue() + stream.read()
    with monkeypatch.context() as patch:
        patch.setattr(_dump, "dump", lambda m, **_: Payload(
            write=lambda s: s.write(data), info={"devices": ["cuda:0"]}))
        flm_core.dump(model, tmp_path / "gpu.flm")
    return tmp_path / "gpu.flm", model


def test_a_file_dumped_on_a_gpu_loads_and_runs_on_the_cpu_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    path, model = gpu_program_file(tmp_path, monkeypatch)
    assert flm_core.read_meta(path).model.info["devices"] == ["cuda:0"]  # recorded, not forced
    loaded = flm_core.load(path).model
    x = torch.randn(5, 4)
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x))


def test_retargeting_leaves_the_meta_device_and_other_fields_alone() -> None:
    program = {"a": {"device": {"type": "meta", "index": None}},
               "b": [{"as_device": {"type": "cuda", "index": 1}}],
               "c": {"device": "not a device object"}}
    assert _compat.retarget_devices(program, torch.device("cpu")) == 1
    assert program["a"]["device"]["type"] == "meta"
    assert program["b"] == [{"as_device": {"type": "cpu", "index": None}}]
    assert program["c"] == {"device": "not a device object"}


def test_metadata_records_where_the_model_was_dumped(tmp_path: Path) -> None:
    _, path = dumped(tmp_path)
    assert flm_core.read_meta(path).model.info["devices"] == ["cpu"]


@cuda
def test_load_onto_cuda_places_every_weight_there_and_runs_without_to(tmp_path: Path) -> None:
    model, path = dumped(tmp_path)
    loaded = flm_core.load(path, device="cuda:0").model
    assert {str(t.device) for t in loaded.state_dict().values()} == {"cuda:0"}
    x = torch.randn(3, 4)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x.cuda()).cpu(), model(x))


@cuda
def test_a_gpu_model_dumps_and_loads_on_the_cpu(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Ranged().cuda().eval()
    path = tmp_path / "gpu.flm"
    flm_core.dump(model, path)
    assert flm_core.read_meta(path).model.info["devices"] == ["cuda:0"]
    loaded = flm_core.load(path).model
    assert {t.device.type for t in loaded.state_dict().values()} == {"cpu"}
    x = torch.randn(3, 4)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x.cuda()).cpu())
