"""What other processes see: loading without the model's class, lazy torch, discovery."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import torch
from flm_torch._dump import export

import flm_core


class Model(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.l1 = torch.nn.Linear(2, 10)
        self.l2 = torch.nn.Linear(10, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.tanh(self.l1(x))
        return torch.sigmoid(self.l2(x))


def run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def dumped(tmp_path: Path) -> tuple[Model, Path]:
    torch.manual_seed(3)
    model = Model()
    path = tmp_path / "model.flm"
    flm_core.dump(model, path)
    return model, path


def test_a_fresh_process_without_the_model_class_gets_identical_outputs(tmp_path: Path) -> None:
    # The child runs the stored export; the reference is the same export made here, so the
    # two are one computation and must agree bit for bit, weights and outputs.
    model, path = dumped(tmp_path)
    x = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.5, -2.0], [3.0, 0.25], [1.0, 9.0]]
    out = run(f"""
        import json, sys, torch, flm_core
        assert "Model" not in dir(sys.modules["__main__"])
        with flm_core.load({str(path)!r}) as artifact:
            y = artifact.model(torch.tensor({x!r}))
            weights = {{k: v.view(torch.uint8).tolist()
                        for k, v in artifact.model.state_dict().items()}}
        print(json.dumps({{"y": y.detach().view(torch.int32).tolist(), "weights": weights}}))
    """)
    got = json.loads(out)
    reference = export(model, None, None).module()
    with torch.no_grad():
        expected = reference(torch.tensor(x))
    assert got["y"] == expected.view(torch.int32).tolist()
    assert got["weights"] == {k: v.detach().view(torch.uint8).tolist()
                              for k, v in model.state_dict().items()}


def test_importing_and_discovering_the_plugin_and_reading_meta_leave_torch_unimported(
    tmp_path: Path,
) -> None:
    _, path = dumped(tmp_path)
    out = run(f"""
        import sys
        import flm_torch, flm_core
        from flm_core.plugins import Registry
        registry = Registry.current()
        meta = flm_core.read_meta({str(path)!r})
        serializer = registry.serializers["torch"][0]
        assert not serializer.can_serialize(object())
        print(meta.framework.lib, "torch" in sys.modules)
    """)
    assert out.split() == ["torch", "False"]


def test_entry_point_discovery_names_the_distribution() -> None:
    out = run("""
        from flm_core.plugins import Registry
        print(Registry.current().serializers["torch"][1])
    """)
    assert out.strip() == "flm-torch"
