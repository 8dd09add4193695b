"""``flm predict``: JSON, CSV, .npy and standard input; bad input exits 1 with a message.
And ``flm serve``'s own checks: the extra named when missing, no server for a bad file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from flm_core.cli import main

numpy = pytest.importorskip("numpy", reason="needs numpy (nox -s serve)")
XOR = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, json.loads(out) if status == 0 else out, err


def test_predict_reads_json(files: Any, xor_model: Any, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "x.json").write_text(json.dumps(XOR))
    status, out, _ = run(capsys, "predict", str(files["xor"]), "--input", str(tmp_path / "x.json"))
    assert status == 0 and out == xor_model.predict(numpy.array(XOR)).tolist()


def test_predict_reads_csv_with_a_header_and_npy(files: Any, xor_model: Any, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "x.csv").write_text("a,b\n" + "\n".join(f"{a},{b}" for a, b in XOR) + "\n")
    numpy.save(tmp_path / "x.npy", numpy.array(XOR))
    expected = xor_model.predict(numpy.array(XOR)).tolist()
    for name in ("x.csv", "x.npy"):
        status, out, _ = run(capsys, "predict", str(files["xor"]), "-i", str(tmp_path / name))
        assert (status, out) == (0, expected)


def test_predict_takes_a_method(files: Any, xor_model: Any, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "x.json").write_text(json.dumps(XOR))
    status, out, _ = run(capsys, "predict", str(files["xor"]), "-i", str(tmp_path / "x.json"),
                         "--method", "predict_proba")
    assert status == 0
    assert out == xor_model.predict_proba(numpy.array(XOR)).tolist()


def test_predict_reads_standard_input(files: Any, xor_model: Any) -> None:
    result = subprocess.run([sys.executable, "-m", "flm_core", "predict", str(files["xor"]),
                             "--input", "-"], input=json.dumps(XOR), capture_output=True,
                            text=True, check=True)
    assert json.loads(result.stdout) == xor_model.predict(numpy.array(XOR)).tolist()


@pytest.mark.parametrize(("name", "content", "says"), [
    ("x.json", "[[0, 1, 2]]", "expected float64 [-1, 2], 2 features"),
    ("x.json", "[[0, 1", "not valid JSON"),
    ("x.json", '"text"', "a list of rows"),
    ("x.csv", "0,1\n0,x\n", "CSV line 2"),
    ("x.csv", "c,d\n0,1\n", "lacks the model's columns"),
    ("x.txt", "0,1", "unknown input format .txt"),
])
def test_bad_input_exits_1_naming_the_input(files: Any, tmp_path: Path, name: str,
                                            content: str, says: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    if "columns" in says:  # the header check needs a model that knows its columns
        pytest.importorskip("pandas", reason="fits a model on a DataFrame")
        files = {"xor": _with_columns(tmp_path)}
    (tmp_path / name).write_text(content)
    status, _, err = run(capsys, "predict", str(files["xor"]), "-i", str(tmp_path / name))
    assert status == 1 and says in err and name in err


def _with_columns(tmp_path: Path) -> Path:
    import pandas
    from sklearn.linear_model import LogisticRegression

    import flm_core

    frame = pandas.DataFrame(XOR, columns=["a", "b"])
    flm_core.dump(LogisticRegression().fit(frame, [0, 1, 1, 0]), tmp_path / "cols.flm")
    return tmp_path / "cols.flm"


def test_predict_on_a_model_that_cannot_predict_exits_1(
        files: Any, tmp_path: Path, fake_env: dict[str, str]) -> None:
    (tmp_path / "x.json").write_text("[[1.0]]")
    script = ("import sys; from flm_core.cli import main; "
              "sys.exit(main(['predict', sys.argv[1], '-i', sys.argv[2]]))")
    result = subprocess.run([sys.executable, "-c", script, str(files["mute"]),
                             str(tmp_path / "x.json")], capture_output=True, text=True,
                            env=fake_env)
    assert result.returncode == 1 and "implements no predict" in result.stderr


def test_serve_without_the_extra_names_the_install(files: Any) -> None:
    script = ("import sys; sys.modules['starlette'] = None; from flm_core.cli import main; "
              "sys.exit(main(['serve', sys.argv[1]]))")
    result = subprocess.run([sys.executable, "-c", script, str(files["xor"])],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "pip install \"flm-core[serve]\"" in result.stderr


def test_import_and_other_subcommands_never_import_the_server(files: Any) -> None:
    script = ("import sys; from flm_core.cli import main; main(['inspect', sys.argv[1]]); "
              "import flm_core; flm_core.read_meta(sys.argv[1]); "
              "print(sorted(m for m in ('starlette', 'uvicorn', 'numpy', 'flm_core.serve') "
              "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", script, str(files["xor"])],
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_serve_stops_before_listening_when_a_file_fails(files: Any, tmp_path: Path) -> None:
    broken = tmp_path / "broken.flm"
    broken.write_bytes(files["xor"].read_bytes()[:-40])
    result = subprocess.run([sys.executable, "-m", "flm_core", "serve", str(files["xor"]),
                             str(broken), "--port", "1"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1
    assert f"flm: error: {broken}:" in result.stderr
    assert "Uvicorn running" not in result.stderr


@pytest.mark.parametrize(("args", "says"), [
    (["a=x.flm", "a=y.flm"], "two models are named 'a'"),
    (["v2=x.flm"], "cannot name a route"),
])
def test_serve_refuses_clashing_or_reserved_names(args: list[str], says: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("starlette", "uvicorn"):  # else it stops at the missing extra, rightly
        pytest.importorskip(name, reason="needs flm-core[serve] (nox -s serve)")
    assert main(["serve", *args]) == 1
    assert says in capsys.readouterr().err
