"""Red team: hostile flm-torch files for each mechanism of issue 9 and its neighbours.

Every file is a real .flm with every checksum right. The invariant: load gives a correct
model or an FLMError subclass; never another exception, never code the file chose (each
code attack tries to create a marker file), never an allocation the file asked for.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import torch_payloads as tp
from flm_torch import _bounds, _validate

import flm_core


@pytest.fixture(scope="module")
def genuine() -> tp.Genuine:
    return tp.Genuine()


def shell(marker: Path) -> str:
    return f"__import__('os').system('touch {marker}')"


def refused(data: bytes, error: type[Exception] = flm_core.UnsafeModelError,
            match: str | None = None) -> None:
    with pytest.raises(error, match=match):
        tp.load(tp.flm_file(data))


def test_the_genuine_payload_loads_and_predicts(genuine: tp.Genuine) -> None:
    model = tp.load(tp.flm_file(genuine.build()))
    x = torch.randn(5, 2)
    with torch.no_grad():
        assert torch.equal(model(x), genuine.model(x)) or torch.allclose(
            model(x), genuine.model(x), atol=1e-6)


# --- issue 9 item 1: names torch pastes into the source it generates ----------------------

def forward_arg_exploit(genuine: tp.Genuine, marker: Path) -> bytes:
    # The exploit: a second forward parameter whose default runs a command. torch
    # writes `def forward(self, x, _=<command>)` and execs it; the model still works.
    program = genuine.edited()
    tp.signature(program)["forward_arg_names"] = ["x", f"_=({shell(marker)})"]
    return genuine.build(program)


def placeholder_exploit(genuine: tp.Genuine, marker: Path) -> bytes:
    text = json.dumps(genuine.program).replace('"x"', json.dumps(f"x=({shell(marker)})"))
    return genuine.build(json.loads(text))


EXPLOITS = {"forward_arg_names": forward_arg_exploit, "placeholder": placeholder_exploit}


@pytest.mark.parametrize("name", sorted(EXPLOITS))
def test_code_in_a_name_is_refused_and_runs_nothing(
        genuine: tp.Genuine, name: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    refused(EXPLOITS[name](genuine, marker), match="not a plain identifier")
    assert not marker.exists()


@pytest.mark.parametrize("name", sorted(EXPLOITS))
def test_the_name_exploits_are_real_without_the_schema(
        genuine: tp.Genuine, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Proves the test above guards something: with the schema walk skipped, torch runs it."""
    marker = tmp_path / "pwned"
    data = tp.flm_file(EXPLOITS[name](genuine, marker))
    monkeypatch.setattr(_validate, "check_program_schema", lambda program: None)
    try:
        model = tp.load(data)
    except flm_core.FLMError:
        model = None  # the placeholder variant breaks the generated code after running
    assert marker.exists()
    if name == "forward_arg_names":  # and the model still loaded and predicts
        assert model is not None and model(torch.ones(2, 2)).shape == (2, 3)


INJECTION = "x); __import__('os').system('touch /tmp/flm-never') #"


def hostile_names(program: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One program per place a name lives, each with INJECTION there."""
    graph = program["graph_module"]["graph"]
    specs = program["graph_module"]["signature"]["input_specs"]
    first = tp.node_list(program)[0]
    cases = {
        "node name": tp.replace_at(program, ("graph_module", "graph", "nodes", 0, "name"),
                                   INJECTION),
        "node output": tp.replace_at(
            program, ("graph_module", "graph", "nodes", 0, "outputs", 0, "as_tensor", "name"),
            INJECTION),
        "graph output": tp.replace_at(
            program, ("graph_module", "graph", "outputs", 0, "as_tensor", "name"), INJECTION),
        "parameter fqn": tp.replace_at(
            program, ("graph_module", "signature", "input_specs", 0, "parameter",
                      "parameter_name"), "l1.__class__.__init__"),
        "buffer fqn": tp.replace_at(
            program, ("graph_module", "signature", "input_specs",
                      next(i for i, s in enumerate(specs) if "buffer" in s), "buffer",
                      "buffer_name"), "seq.1.running_mean\nimport os"),
        "module call fqn": tp.replace_at(
            program, ("graph_module", "module_call_graph", 1, "fqn"), "l1; import os"),
        "keyword argument": tp.replace_at(
            program, ("graph_module", "graph", "nodes", 0, "inputs", 0, "name"), "a=1, b"),
        "tensor_values key": tp.rename_key_at(
            program, ("graph_module", "graph", "tensor_values", next(iter(
                graph["tensor_values"]))), INJECTION),
        "opset key": tp.rename_key_at(program, ("opset_version", "aten"), "aten;x"),
        "range constraint key": tp.rename_key_at(
            program, ("range_constraints", next(iter(program["range_constraints"]))),
            "__import__('os')"),
        "unicode lookalike": tp.replace_at(
            program, ("graph_module", "graph", "nodes", 0, "name"), "l\u0456near"),  # Cyrillic i
        "python keyword": tp.replace_at(
            program, ("graph_module", "graph", "nodes", 0, "name"), "lambda"),
    }
    assert first["inputs"]
    return cases


@pytest.mark.parametrize("place", sorted(hostile_names(tp.Genuine().program)))
def test_every_name_must_be_a_plain_identifier(genuine: tp.Genuine, place: str) -> None:
    refused(genuine.build(hostile_names(genuine.program)[place]))


def in_spec_with_kwargs(keys: list[str]) -> str:
    leaf = {"type": None, "context": None, "children_spec": []}
    args = {"type": "builtins.tuple", "context": "null", "children_spec": [leaf]}
    kwargs = {"type": "builtins.dict", "context": json.dumps(keys),
              "children_spec": [leaf] * len(keys)}
    return json.dumps([1, {"type": "builtins.tuple", "context": "null",
                           "children_spec": [args, kwargs]}])


def test_input_dict_keys_torch_pastes_into_forward_are_refused(genuine: tp.Genuine) -> None:
    program = genuine.edited()
    tp.signature(program)["in_spec"] = in_spec_with_kwargs(["k': __import__('os'), 'j"])
    refused(genuine.build(program), match="not a plain identifier")


def test_a_defaultdict_spec_that_would_import_a_module_is_refused(
        genuine: tp.Genuine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # pytree rebuilds a defaultdict's factory with importlib.import_module(<file's name>)
    marker = tmp_path / "imported"
    (tmp_path / "flm_probe_module.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    context = json.dumps({"default_factory_module": "flm_probe_module",
                          "default_factory_name": "list", "dict_context": []})
    spec = json.dumps([1, {"type": "collections.defaultdict", "context": context,
                           "children_spec": []}])
    program = genuine.edited()
    tp.signature(program)["out_spec"] = spec
    refused(genuine.build(program), match="not a tuple, list or dict")
    assert not marker.exists()


@pytest.mark.parametrize("context", [
    '[{"__enum__": true, "fqn": "os:system", "name": "x"}]',  # torch's enum object hook
    '["a", "b"]',  # more keys than children
    "[[1]]",
])
def test_pytree_dict_contexts_other_than_plain_keys_are_refused(
        genuine: tp.Genuine, context: str) -> None:
    leaf = {"type": None, "context": None, "children_spec": []}
    spec = json.dumps([1, {"type": "builtins.dict", "context": context, "children_spec": [leaf]}])
    program = genuine.edited()
    tp.signature(program)["out_spec"] = spec
    refused(genuine.build(program))


def test_a_carriage_return_in_a_stack_trace_is_refused(genuine: tp.Genuine) -> None:
    # torch copies the trace's code line into a comment of the generated forward; Python's
    # tokenizer ends a line at \r, so the rest of it would be code.
    program = genuine.edited()
    tp.node_list(program)[0]["metadata"]["stack_trace"] = (
        'File "m.py", line 1, in forward\n    x\r__import__("os").system("id")')
    refused(genuine.build(program), match="control characters")


def test_metadata_torch_would_resolve_by_name_is_dropped_not_resolved(
        genuine: tp.Genuine) -> None:
    program = genuine.edited()
    meta = tp.node_list(program)[0]["metadata"]
    meta["source_fn_stack"] = "linear,torch.os.system"
    meta["custom"] = '{"a": 1}'
    model = tp.load(tp.flm_file(genuine.build(program)))
    assert all("source_fn_stack" not in node.meta and "custom" not in node.meta
               for node in model.graph.nodes)


STRUCTURE = {
    "unknown top-level field": (("dialect",), "EDGE"),
    "unknown node field": (("graph_module", "graph", "nodes", 0, "code"), "x"),
    "unknown node metadata": (("graph_module", "graph", "nodes", 0, "metadata", "eval"), "1"),
    "two union variants": (("graph_module", "graph", "outputs", 0, "as_int"), 1),
    "custom object": (("graph_module", "graph", "custom_obj_values"),
                      {"obj": {"name": "obj", "class_fqn": "os.system"}}),
    "module metadata": (("graph_module", "metadata"), {"custom": "[[[[]]]]"}),
    "namedtuple fields": (("graph_module", "treespec_namedtuple_fields"),
                          {"os.system": {"field_names": ["a"]}}),
    "device": (("graph_module", "graph", "tensor_values", "x", "device", "type"), "cuda;x"),
    "verifier": (("verifiers",), ["EVIL"]),
    "torch version": (("torch_version",), "2.13\nimport os"),
    "dtype outside the enum": (("graph_module", "graph", "tensor_values", "x", "dtype"), 99),
    "bool for an int": (("graph_module", "graph", "tensor_values", "x", "layout"), True),
    "int beyond int64": (("graph_module", "graph", "tensor_values", "x", "sizes", 1,
                          "as_int"), 1 << 70),
    "string argument with a quote": (("graph_module", "graph", "nodes", -1, "inputs", 1,
                                      "arg", "as_string"), "tanh'); import os; ('"),
    "operator argument": (("graph_module", "graph", "nodes", -1, "inputs", 1, "arg"),
                          {"as_operator": "builtins.eval"}),
    "list where an object is due": (("graph_module", "signature"), []),
    "missing required field": (("graph_module", "graph", "nodes", 0), {"target": "x"}),
}


@pytest.mark.parametrize("case", sorted(STRUCTURE))
def test_anything_outside_the_schema_is_refused(genuine: tp.Genuine, case: str) -> None:
    path, value = STRUCTURE[case]
    refused(genuine.build(tp.replace_at(genuine.program, path, value)))


@pytest.mark.parametrize("expr", ["9**9**9", "2**(10**9)", "PowByNatural(2, 1000000000)",
                                  "LShift(1, 10**9)", "s77 + 100000000000000000000000",
                                  "Pow(Integer(2), Integer(1000000000))"])
def test_expressions_that_would_take_minutes_or_gigabytes_are_refused(
        genuine: tp.Genuine, expr: str) -> None:
    # The symbol's name depends on the torch that exported: s77 on 2.13, s0 on 2.6
    text, found = re.subn(r"Symbol\('s\d+', positive=True, integer=True\)",
                          lambda _: expr, json.dumps(genuine.program), count=1)
    assert found, "the genuine program has no shape symbol to replace"
    program = json.loads(text)
    start = time.monotonic()
    refused(genuine.build(program))
    assert time.monotonic() - start < 30


@pytest.mark.parametrize("expr", ["s0**2", "Pow(Symbol('s1', integer=True), Integer(2))",
                                  "Mul(Integer(11), Pow(s1, Rational(1, 2)))", "s0 * 2**-1"])
def test_small_literal_powers_pass(expr: str) -> None:
    from flm_torch import _safety

    _safety.check_sympy_expression(expr)


def test_a_guard_that_would_compute_a_huge_number_is_refused(genuine: tp.Genuine) -> None:
    refused(genuine.build(dict(genuine.edited(), guards_code=["10**10**10 > 0"])))


# --- limits: checked before anything is allocated --------------------------------------

def test_a_manifest_declaring_a_tebibyte_fails_before_torch_empty(
        genuine: tp.Genuine, monkeypatch: pytest.MonkeyPatch) -> None:
    entries = [dict(genuine.entries[0], shape=[1 << 18, 1 << 20]), *genuine.entries[1:]]
    data = tp.flm_file(genuine.build(entries=entries))
    calls: list[Any] = []
    real_empty = torch.empty
    monkeypatch.setattr(torch, "empty", lambda *a, **k: calls.append(a) or real_empty(*a, **k))
    with pytest.raises(flm_core.FLMError, match="declares"):
        tp.load(data)
    assert calls == []


def test_the_total_limit_can_be_lowered(genuine: tp.Genuine,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_bounds.TOTAL_ENV, "100")
    refused(genuine.build(), _bounds.LimitError, match="more than the limit of 100")


def test_too_many_dimensions_is_a_format_error(genuine: tp.Genuine) -> None:
    entries = [dict(genuine.entries[0], shape=[1] * 65), *genuine.entries[1:]]
    refused(genuine.build(entries=entries), flm_core.FormatError, match="dimensions")


@pytest.mark.parametrize("part", ["program", "manifest"])
def test_deep_json_nesting_is_an_flm_error_not_a_recursion_error(part: str) -> None:
    deep = tp.deep_json(200_000)
    payload = (tp.raw_payload(deep, b"{}") if part == "manifest"
               else tp.raw_payload(b'{"tensors":[]}', deep))
    refused(payload, flm_core.FLMError)


def test_a_huge_integer_literal_is_a_format_error(genuine: tp.Genuine) -> None:
    text = json.dumps(genuine.program).replace('"as_int": 2', '"as_int": 2' + "0" * 5000, 1)
    refused(genuine.build(text.encode()), flm_core.FormatError)


def test_what_torch_cannot_rebuild_is_a_format_error(genuine: tp.Genuine) -> None:
    # Schema-valid but meaningless: torch raises KeyError, AttributeError, RuntimeError.
    cases = [
        tp.replace_at(genuine.program, ("graph_module", "graph", "nodes", 0, "inputs", 0, "arg",
                                        "as_tensor", "name"), "nowhere"),
        tp.replace_at(genuine.program, ("graph_module", "graph", "nodes", 0, "target"),
                      "torch.ops.aten.no_such_op.default"),
    ]
    for program in cases:
        with pytest.raises(flm_core.FormatError):
            tp.load(tp.flm_file(genuine.build(program)))


def test_a_duplicate_node_name_loads_or_is_an_flm_error(genuine: tp.Genuine) -> None:
    program = tp.replace_at(genuine.program, ("graph_module", "graph", "nodes", 1, "name"),
                            "linear")
    try:
        model = tp.load(tp.flm_file(genuine.build(program)))
    except flm_core.FLMError:
        return
    assert isinstance(model, torch.nn.Module)


def run_isolated(code: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """Risky loads run in a child: a crash or a hang fails the test, not the session."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})


def test_a_small_file_declaring_a_2_gb_tensor_stays_small() -> None:
    # 2 GB of zeros compress to ~85 KB: the manifest is plausible, the bytes are real. The
    # core's decompression limits stop the bytes; the tensor's pages are never all touched.
    result = run_isolated("""
        import io, json, resource, torch, flm_core
        import torch_payloads as tp
        size = 1 << 31
        entry = {"name": "w", "role": "buffer", "dtype": "uint8", "shape": [size],
                 "requires_grad": False}
        manifest = json.dumps({"tensors": [entry]}).encode()
        zeros = bytes(1 << 24)
        class Zeros:
            def write(self, sink):
                sink.write(tp.raw_payload(manifest, b"{}"))
                for _ in range(size >> 24):
                    sink.write(zeros)
        flm = io.BytesIO()
        with tp._payload_replaced(b""):
            tp._dump.dump = lambda model, **_: tp.Payload(write=Zeros().write)
            flm_core.dump(torch.nn.Linear(1, 1), flm)
        print("file", len(flm.getvalue()))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            tp.load(flm.getvalue())
            print("loaded")
        except flm_core.FLMError as exc:
            print("refused", type(exc).__name__)
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        print("grown_kib", grown)
    """)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in result.stdout.split("\n") if " " in line)
    assert int(lines["file"]) < 200_000
    if not hasattr(flm_core, "Limits"):
        pytest.skip("this core has no decompression limits (flm_core.Limits) yet")
    assert lines.get("refused"), result.stdout
    assert int(lines["grown_kib"]) < 600 * 1024, result.stdout
