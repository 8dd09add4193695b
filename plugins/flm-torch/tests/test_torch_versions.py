"""flm-torch on the torch it runs under: the private serializer calls, and files written by
other torch releases (the fixtures under data/, one per release the matrix runs)."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from flm_torch import _compat, _dump, _format
from flm_torch.errors import TorchVersionError

import flm_core
from flm_core import Payload

DATA = Path(__file__).parent / "data"
FIXTURES = sorted(DATA.glob("torch-*.flm"))
INSTALLED = str(torch.__version__).split("+")[0]


class Small(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.l1 = torch.nn.Linear(3, 4)
        self.register_buffer("shift", torch.arange(4.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.l1(x) + self.shift


def test_features_are_detected_from_the_api_not_the_version_number() -> None:
    found = _compat.features()
    print(found)  # which path this torch takes, in the test log of each matrix session
    assert found["torch"] == str(torch.__version__)
    assert found["schema"][0] >= 8
    import inspect

    from torch._export.serde import serialize as serde
    keyword = "serialize_state_dict" in inspect.signature(serde.serialize).parameters
    assert found["skips_artifacts"] is keyword


def test_program_json_never_pickles_the_weights_on_either_serializer_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    torch.manual_seed(0)
    program = _dump.export(Small(), None, None)

    def no_pickle(*args: object, **kwargs: object) -> None:
        raise AssertionError("torch.save was called: the weights were pickled")

    monkeypatch.setattr(torch, "save", no_pickle)
    first = _compat.program_json(program)
    if _compat.skips_artifacts():  # the older path works here too: it only swaps a helper
        monkeypatch.setattr(_compat, "skips_artifacts", lambda: False)
        assert json.loads(_compat.program_json(program)) == json.loads(first)
    from torch._export.serde import serialize as serde
    assert serde.serialize_torch_artifact.__name__ == "serialize_torch_artifact"  # restored
    assert json.loads(first)["schema_version"]["major"] == _compat.schema_version()[0]


def test_the_older_path_swaps_the_pickler_for_its_own_thread_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    from torch._export.serde import serialize as serde

    program = _dump.export(Small(), None, None)
    monkeypatch.setattr(_compat, "skips_artifacts", lambda: False)
    real_serialize = serde.serialize
    seen: dict[str, bytes] = {}

    def pickle_here_and_elsewhere(*args: object, **kwargs: object) -> object:
        seen["here"] = serde.serialize_torch_artifact({"w": torch.ones(2)})
        other = threading.Thread(target=lambda: seen.update(
            other=serde.serialize_torch_artifact({"w": torch.ones(2)})))
        other.start()
        other.join()
        return real_serialize(*args, **kwargs)

    monkeypatch.setattr(serde, "serialize", pickle_here_and_elsewhere)
    _compat.program_json(program)
    assert seen["here"] == b"" and len(seen["other"]) > 0


def payload_parts() -> tuple[list[dict[str, Any]], dict[str, Any], bytes]:
    sink = io.BytesIO()
    _dump.dump(Small()).write(sink)
    stream = io.BytesIO(sink.getvalue())
    entries, program = _format.read_header(stream)
    return entries, json.loads(program), stream.read()


def write_with_program(path: Path, program: dict[str, Any],
                       monkeypatch: pytest.MonkeyPatch) -> Path:
    entries, _, weights = payload_parts()
    sink = io.BytesIO()
    _format.write_header(sink, {"tensors": entries}, json.dumps(program).encode())
    data = sink.getvalue() + weights
    with monkeypatch.context() as patch:
        patch.setattr(_dump, "dump", lambda model, **_: Payload(write=lambda s: s.write(data)))
        flm_core.dump(Small(), path)
    return path


def test_another_schema_major_is_refused_naming_both_torch_releases(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, program, _ = payload_parts()
    program["schema_version"] = {"major": 99, "minor": 0}
    program["torch_version"] = "9.1.0"
    path = write_with_program(tmp_path / "future.flm", program, monkeypatch)
    with pytest.raises(TorchVersionError, match=r"torch 9\.1\.0.*schema 99\.0") as info:
        flm_core.load(path)
    assert str(torch.__version__) in str(info.value)
    assert isinstance(info.value, flm_core.FLMError)


def test_a_program_this_torch_cannot_rebuild_names_the_release_that_wrote_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An operator a future torch might add: the allowlist passes it, this torch lacks it.
    _, program, _ = payload_parts()
    program["torch_version"] = "9.1.0"
    node = next(n for n in program["graph_module"]["graph"]["nodes"]
                if n["target"].startswith("torch.ops.aten."))
    node["target"] = "torch.ops.aten.flm_future_op.default"
    path = write_with_program(tmp_path / "future.flm", program, monkeypatch)
    with pytest.raises(TorchVersionError, match=r"9\.1\.0") as info:
        flm_core.load(path)
    assert str(torch.__version__) in str(info.value)


def test_the_fixtures_cover_the_lowest_and_newest_torch() -> None:
    versions = sorted(tuple(map(int, p.stem.removeprefix("torch-").split(".")))
                      for p in FIXTURES)
    assert versions[0] == (2, 6, 0), "the lowest torch flm-torch declares (pyproject)"
    assert len(versions) >= 2


@pytest.mark.filterwarnings("ignore::flm_core.FrameworkVersionWarning")
@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_files_from_other_torch_releases_load_and_predict(path: Path) -> None:
    record = json.loads(path.with_suffix(".json").read_text())
    with flm_core.load(path) as artifact:
        model = artifact.model
        with torch.no_grad():
            got = model(torch.tensor(record["ids"]))
        weights = {name: hashlib.sha256(t.detach().contiguous().view(torch.uint8).numpy())
                   .hexdigest() for name, t in model.state_dict().items()}
    # Bit-exact weights; outputs within float32 rounding (another release, other kernels).
    assert weights.items() <= record["weights"].items()
    torch.testing.assert_close(got, torch.tensor(record["output"]))
    # The tied embedding and output layer are one tensor again.
    tied = [p for n, p in model.named_parameters(remove_duplicate=False) if n.endswith("weight")
            and p.shape == (11, 6)]
    assert len({p.data_ptr() for p in tied}) == 1


@pytest.mark.filterwarnings("ignore::flm_core.FrameworkVersionWarning")
def test_a_file_written_here_loads_back_like_the_fixtures(tmp_path: Path) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    try:
        import make_fixtures
    finally:
        sys.path.pop(0)
    make_fixtures.main(tmp_path)
    test_files_from_other_torch_releases_load_and_predict(tmp_path / f"torch-{INSTALLED}.flm")
