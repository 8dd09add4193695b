"""Walk a parsed program against :data:`flm_torch._schema.PROGRAM`, default deny.

Iterative, with a depth bound, so a hostile file cannot exhaust the stack here or, later,
in torch's recursive deserializer. Each string is checked by the rule of its kind; a kind
without a rule is refused, so adding a field to the schema without deciding what it may
hold fails closed.
"""

from __future__ import annotations

import json
import keyword
import re
from collections.abc import Callable
from typing import Any

from flm_core import UnsafeModelError
from flm_torch import _safety
from flm_torch._schema import PROGRAM, SPECS, Spec

MAX_DEPTH = 200  # JSON levels; a program nests about 8 per control-flow subgraph
MAX_NAME = 1024
MAX_TEXT = 1 << 20  # a node's stack trace or module stack
INT64 = 1 << 63

_ASCII_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_FQN_PART = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z|[0-9]+\Z")
_SYMBOL = re.compile(r"[a-z]{1,4}[0-9]+\Z")
# Operator string arguments: reductions ("mean"), modes ("floor", "reflect", "tanh"),
# einsum equations ("bij,bjk->bik", "...ij"). No quotes, backslashes or line breaks.
_VALUE = re.compile(r"[A-Za-z0-9_ .,:<>\-]{0,256}\Z")
_TORCH_VERSION = re.compile(r"(<=)?[0-9]+\.[0-9]+(\.[0-9]+)?[A-Za-z0-9.+_\-]{0,40}\Z")
# \r ends a line for Python's tokenizer: in a stack trace torch pastes into a generated
# comment it would start a line of code. Only \n (which torch splits on) and \t may pass.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029\x85]")
DEVICES = frozenset({"cpu", "cuda", "mps", "xpu", "meta", "hpu", "mtia"})
VERIFIERS = frozenset({"ATEN", "TRAINING"})
# Node metadata torch keeps as text; the rest it would parse (custom, from_node: JSON) or
# resolve by name on torch (source_fn_stack): checked as text, then dropped before torch.
NODE_META_KEPT = frozenset({"stack_trace", "nn_module_stack", "torch_fn"})
NODE_META_DROPPED = frozenset({"source_fn_stack", "custom", "from_node"})
TREESPEC_CONTAINERS = frozenset({"builtins.tuple", "builtins.list"})
TREESPEC_MAPPINGS = frozenset({"builtins.dict", "collections.OrderedDict"})


def refuse(path: str, why: str) -> UnsafeModelError:
    return UnsafeModelError(f"the torch program is refused at {path or 'its root'}: {why}")


def check_ident(text: str) -> None:
    if len(text) > MAX_NAME or not _ASCII_IDENT.match(text) or keyword.iskeyword(text):
        raise ValueError(f"{text!r:.100} is not a plain identifier")


def check_argument_name(text: str) -> None:
    # Matched against the operator's schema, never pasted: torch itself passes a Python
    # keyword (aten::random_'s `from`) positionally, and writes "" for the positional
    # arguments of control flow (torch.cond). Otherwise still an ASCII identifier.
    if text and (len(text) > MAX_NAME or not _ASCII_IDENT.match(text)):
        raise ValueError(f"{text!r:.100} is not an argument name")


def check_fqn(text: str) -> None:
    # Attribute paths: identifiers, or the digits nn.Sequential names its children with;
    # never a dunder, which would reach a module's class or dict instead of a submodule.
    parts = text.split(".")
    if len(text) > MAX_NAME or not all(
        _FQN_PART.match(part) and not keyword.iskeyword(part) and not part.startswith("__")
        for part in parts
    ):
        raise ValueError(f"{text!r:.100} is not a dotted path of identifiers")


def check_module_fqn(text: str) -> None:
    if text:  # "" is the root module
        check_fqn(text)


def _pattern(regex: re.Pattern[str], what: str) -> Callable[[str], None]:
    def check(text: str) -> None:
        if not regex.match(text):
            raise ValueError(f"{text!r:.100} is not {what}")
    return check


def _vocabulary(words: frozenset[str], what: str) -> Callable[[str], None]:
    def check(text: str) -> None:
        if text not in words:
            raise ValueError(f"{text!r:.100} is not a known {what}")
    return check


def check_text(text: str) -> None:
    if len(text) > MAX_TEXT or _CONTROL.search(text):
        raise ValueError("it holds control characters or is too long")


STRING_RULES: dict[str, Callable[[str], None]] = {
    "ident": check_ident,
    "argument_name": check_argument_name,
    "fqn": check_fqn,
    "module_fqn": check_module_fqn,
    "symbol": _pattern(_SYMBOL, "a shape symbol"),
    "value": _pattern(_VALUE, "a plain operator argument"),
    "torch_version": _pattern(_TORCH_VERSION, "a torch version"),
    "device": _vocabulary(DEVICES, "device type"),
    "verifier": _vocabulary(VERIFIERS, "verifier"),
    "target": _safety.check_target,
    "expr": _safety.check_sympy_expression,
    "guard": _safety.check_guard,
    "in_spec": lambda text: check_treespec(text, check_ident),
    "out_spec": lambda text: check_treespec(text, _output_key),
}


def check_string(kind: str, text: Any, path: str) -> None:
    if not isinstance(text, str):
        raise refuse(path, f"expected a string, found {type(text).__name__}")
    rule = STRING_RULES.get(kind)
    if rule is None:  # a kind without a rule: fail closed
        raise refuse(path, f"no rule admits strings of kind {kind!r}")
    try:
        rule(text)
    except UnsafeModelError as exc:
        raise refuse(path, str(exc)) from None
    except ValueError as exc:
        raise refuse(path, str(exc)) from None


def check_program_schema(program: Any) -> None:
    """Raise UnsafeModelError unless ``program`` matches the schema in every key and string.

    Removes node metadata torch would parse or resolve by name (see NODE_META_DROPPED)."""
    stack: list[tuple[Any, Spec, str, int]] = [(program, PROGRAM, "", 0)]
    while stack:
        value, spec, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise refuse(path, f"nested deeper than {MAX_DEPTH} levels")
        stack.extend(_children(value, spec, path, depth))


def _children(value: Any, spec: Spec, path: str, depth: int) -> list[tuple[Any, Spec, str, int]]:
    if isinstance(spec, str):
        _check_scalar(value, spec, path)
        return []
    tag = spec[0]
    if tag == "ref":
        return [(value, SPECS[spec[1]], path, depth)]
    if tag == "opt":
        return [] if value is None else [(value, spec[1], path, depth)]
    if tag == "str":
        check_string(spec[1], value, path)
        return []
    if tag == "enum":
        if type(value) is not int or value not in spec[1]:
            raise refuse(path, f"{value!r:.50} is not one of the known values")
        return []
    if tag == "empty":
        if value not in ({}, []):
            raise refuse(path, "must be empty (flm-torch stores no such entries)")
        return []
    if tag == "list":
        if not isinstance(value, list):
            raise refuse(path, "expected a list")
        return [(item, spec[1], f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    if not isinstance(value, dict):
        raise refuse(path, f"expected an object for {spec[1]}")
    if tag == "map":
        return _map_children(value, spec, path, depth)
    if tag == "struct":
        return _struct_children(value, spec, path, depth)
    if tag == "union":
        if len(value) != 1 or next(iter(value)) not in spec[2]:
            raise refuse(path, f"{sorted(value)!r:.100} is not one variant of {spec[1]}")
        key = next(iter(value))
        return [(value[key], spec[2][key], f"{path}.{key}", depth + 1)]
    raise refuse(path, f"unknown schema tag {tag!r}")  # pragma: no cover - a table error


def _map_children(value: dict[str, Any], spec: Spec, path: str,
                  depth: int) -> list[tuple[Any, Spec, str, int]]:
    _, key_kind, item_spec = spec
    if key_kind == "node_meta":
        _check_node_metadata(value, path)
        return []
    for key in value:
        check_string(key_kind, key, f"{path} key")
    return [(item, item_spec, f"{path}[{key!r:.40}]", depth + 1) for key, item in value.items()]


def _struct_children(value: dict[str, Any], spec: Spec, path: str,
                     depth: int) -> list[tuple[Any, Spec, str, int]]:
    _, name, fields = spec
    unknown = set(value) - set(fields)
    if unknown:
        raise refuse(path, f"{name} has unknown fields {sorted(unknown)!r:.200}")
    missing = [key for key, (_, required) in fields.items() if required and key not in value]
    if missing:
        raise refuse(path, f"{name} lacks {missing}")
    return [(value[key], fields[key][0], f"{path}.{key}", depth + 1) for key in value]


def _check_scalar(value: Any, kind: str, path: str) -> None:
    if kind == "bool":
        ok = type(value) is bool
    elif kind == "int":
        ok = type(value) is int and -INT64 <= value < INT64
    elif kind == "float":  # JSON writes 1.0 as 1 sometimes; inf and nan are legal floats
        ok = type(value) is float or (type(value) is int and -INT64 <= value < INT64)
    else:  # pragma: no cover - a table error
        ok = False
    if not ok:
        raise refuse(path, f"expected {kind}, found {value!r:.50}")


def _check_node_metadata(metadata: dict[str, Any], path: str) -> None:
    for key in list(metadata):
        text = metadata[key]
        if key not in NODE_META_KEPT | NODE_META_DROPPED or not isinstance(text, str):
            raise refuse(path, f"unknown node metadata {key!r:.50}")
        check_string_text(text, f"{path}[{key!r}]")
        if key in NODE_META_DROPPED:
            del metadata[key]


def check_string_text(text: str, path: str) -> None:
    try:
        check_text(text)
    except ValueError as exc:
        raise refuse(path, str(exc)) from None


def _output_key(key: str) -> None:
    if not _VALUE.match(key):
        raise ValueError(f"output key {key!r:.100} is not plain text")


def check_treespec(text: str, check_key: Callable[[str], None]) -> None:
    """A pytree spec (``[1, {type, context, children_spec}]``) of tuples, lists, dicts and
    leaves only. torch resolves other types by name (a defaultdict's factory by import), and
    pastes an input dict's keys into the generated ``forward``: those must be identifiers."""
    if len(text) > MAX_TEXT:
        raise ValueError("the pytree spec is too long")
    try:
        protocol, root = json.loads(text)
    except (ValueError, TypeError, RecursionError) as exc:
        raise ValueError(f"the pytree spec is not [protocol, spec]: {exc}") from None
    if type(protocol) is not int or protocol != 1:
        raise ValueError(f"pytree protocol {protocol!r:.20} is not 1")
    stack = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH or not isinstance(node, dict):
            raise ValueError("a pytree node is not an object, or nests too deep")
        if set(node) != {"type", "context", "children_spec"}:
            raise ValueError(f"a pytree node has fields {sorted(node)!r:.100}")
        children = node["children_spec"]
        if not isinstance(children, list):
            raise ValueError("a pytree node's children are not a list")
        _check_treespec_node(node["type"], node["context"], len(children), check_key)
        stack.extend((child, depth + 1) for child in children)


def _check_treespec_node(kind: Any, context: Any, count: int,
                         check_key: Callable[[str], None]) -> None:
    if kind is None:
        if context is not None or count:
            raise ValueError("a pytree leaf has a context or children")
        return
    if kind in TREESPEC_CONTAINERS:
        if context != "null":
            raise ValueError(f"a {kind} has a context")
        return
    if kind not in TREESPEC_MAPPINGS or not isinstance(context, str) or len(context) > MAX_TEXT:
        raise ValueError(f"pytree type {kind!r:.100} is not a tuple, list or dict")
    try:
        keys = json.loads(context)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"a pytree dict's keys are not JSON: {exc}") from None
    if not isinstance(keys, list) or len(keys) != count:
        raise ValueError("a pytree dict's keys do not match its children")
    for key in keys:
        if not isinstance(key, str):
            raise ValueError(f"pytree dict key {key!r:.50} is not a string")
        check_key(key)
