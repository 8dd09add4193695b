"""Checks a serialized program (the JSON of ``torch._export.serde``) before torch sees it.

torch's own deserializer trusts its input: it resolves any ``torch.<attr>...`` path as a
call target, feeds shape expressions to ``sympy.sympify`` (which runs ``eval``) and the
program's ``guards_code`` to ``exec``. A file is hostile until proven otherwise, so every
string that reaches those three places must pass a strict allowlist here; anything else
raises :class:`~flm_core.UnsafeModelError` and nothing has been executed.

Pure Python on purpose: no torch import, so it can be tested and reasoned about alone.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Iterator
from typing import Any

from flm_core import UnsafeModelError

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Symbols torch's shape environment creates: s0, u3, zuf0, c1, ...
_SYMBOL = re.compile(r"[a-z]{1,4}[0-9]+\Z")
_OP_NAMESPACES = frozenset({"aten", "prims"})
# Control-flow operators whose bodies are subgraphs of the same (checked) program.
_HIGHER_ORDER = frozenset({
    "cond", "while_loop", "map_impl", "scan", "associative_scan",
    "wrap_with_set_grad_enabled", "wrap_with_autocast",
})
_TORCH_FUNCTIONS = frozenset({
    "sym_int", "sym_float", "sym_max", "sym_min", "sym_not", "sym_ite", "sym_sqrt",
    "sym_sum", "_sym_sqrt",
})
_OPERATOR_FUNCTIONS = frozenset(
    name for name in dir(operator)
    if not name.startswith("_") and name not in {"attrgetter", "methodcaller", "call"}
)
_MATH_FUNCTIONS = frozenset({
    "floor", "ceil", "trunc", "sqrt", "log", "log2", "exp", "pow", "fabs", "gcd", "isnan",
    "isinf", "inf", "pi", "e",
})
# Every function name sympify may call: sympy's own and the torch helpers the
# deserializer puts in its namespace. Builtins and sympy's I/O or plotting never pass.
_SYMPY_CALLS = frozenset({
    "Symbol", "Integer", "Float", "Rational", "Max", "Min", "Abs", "Mod", "Eq", "Ne", "Lt",
    "Le", "Gt", "Ge", "And", "Or", "Not", "floor", "ceiling", "sqrt", "Piecewise",
    "FloorDiv", "ModularIndexing", "Where", "PythonMod", "CleanDiv", "CeilToInt",
    "FloorToInt", "CeilDiv", "LShift", "RShift", "PowByNatural", "FloatPow", "FloatTrueDiv",
    "IntTrueDiv", "IsNonOverlappingAndDenseIndicator", "TruncToFloat", "TruncToInt",
    "RoundToInt", "RoundDecimal", "ToFloat", "Identity",
    # torch 2.6-2.9 write expressions as sympy's srepr: Mul(Integer(11), Symbol('s1', ...))
    "Add", "Mul", "Pow",
})
_SYMPY_NAMES = frozenset({"oo", "zoo", "nan", "True", "False", "pi", "E", "I"})
_SYMBOL_ASSUMPTIONS = frozenset({
    "positive", "negative", "nonnegative", "nonpositive", "integer", "real", "finite",
    "zero", "nonzero", "even", "odd",
})
_GUARD_CALLS = frozenset({"max", "min", "abs", "int", "float",
                          "IsNonOverlappingAndDenseIndicator",
                          "cast_symbool_to_symint_guardless"})
_GUARD_METHODS = frozenset({"size", "stride", "storage_offset", "dim", "numel"})
_POWERS = frozenset({"PowByNatural", "FloatPow", "LShift", "Pow"})
_MAX_EXPONENT = 64
_INT64 = 1 << 63
_ARITHMETIC = (ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Compare, ast.boolop, ast.operator,
               ast.unaryop, ast.cmpop, ast.Expression, ast.Load)


def check_program(program: Any) -> None:
    """Raise UnsafeModelError unless the serialized ``program`` (parsed JSON) matches the
    positive schema of :mod:`flm_torch._schema` in every key and string, and every call
    target, shape expression and guard is on the allowlist."""
    from flm_torch._validate import check_program_schema  # it imports this module

    if not isinstance(program, dict):
        raise UnsafeModelError("the serialized program is not a JSON object")
    check_program_schema(program)
    for kind, text in _strings_torch_evaluates(program):
        if kind == "target":
            check_target(text)
        elif kind == "expr":
            check_sympy_expression(text)
    guards = program.get("guards_code", [])
    if not isinstance(guards, list):
        raise UnsafeModelError("guards_code is not a list")
    for guard in guards:
        check_guard(guard)


def _strings_torch_evaluates(node: Any) -> Iterator[tuple[str, Any]]:
    # Iterative: a hostile file could nest deeply enough to exhaust Python's stack.
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "target" in item and "inputs" in item:
                yield "target", item["target"]
            if "expr_str" in item:
                yield "expr", item["expr_str"]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def check_target(target: Any) -> None:
    """A graph node may only call an ATen/prims operator, a pure ``operator``/``math``
    function, a symbolic-shape helper of torch, or a control-flow operator."""
    if not isinstance(target, str):
        raise UnsafeModelError(f"a graph node's target is not a string: {target!r}")
    parts = target.split(".")
    if not all(_IDENT.match(part) and not part.startswith("__") for part in parts):
        raise UnsafeModelError(f"the program calls a disallowed target {target!r}")
    allowed = (
        (parts[:2] == ["torch", "ops"] and len(parts) in (4, 5)
         and (parts[2] in _OP_NAMESPACES
              or (parts[2] == "higher_order" and parts[3] in _HIGHER_ORDER)))
        or (len(parts) == 2 and parts[0] == "torch" and parts[1] in _TORCH_FUNCTIONS)
        or (len(parts) == 2 and parts[0] == "_operator" and parts[1] in _OPERATOR_FUNCTIONS)
        or (len(parts) == 2 and parts[0] == "math" and parts[1] in _MATH_FUNCTIONS)
    )
    if not allowed:
        raise UnsafeModelError(f"the program calls a disallowed target {target!r}")


def _parse(text: Any, what: str) -> ast.Expression:
    if not isinstance(text, str) or len(text) > 10_000:
        raise UnsafeModelError(f"{what} is not a short string: {text!r:.200}")
    try:
        return ast.parse(text, mode="eval")
    except (SyntaxError, ValueError) as exc:
        raise UnsafeModelError(f"{what} {text!r:.200} is not an expression") from exc


def check_sympy_expression(text: Any) -> None:
    """Allow arithmetic over shape symbols and numbers, and calls to sympy's and torch's
    shape functions by bare name: no attributes, subscripts, lambdas or other names."""
    tree = _parse(text, "a shape expression")
    for node in ast.walk(tree):
        if not _sympy_node_ok(node):
            raise UnsafeModelError(f"shape expression {text!r:.200} is not plain arithmetic")


def _sympy_node_ok(node: ast.AST) -> bool:
    if not _bounded(node):
        return False
    if isinstance(node, (*_ARITHMETIC, ast.keyword)):
        return True
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, str):
            return bool(_SYMBOL.match(value))
        return isinstance(value, (int, float, bool))
    if isinstance(node, ast.Name):
        return node.id in _SYMPY_CALLS or node.id in _SYMPY_NAMES or bool(_SYMBOL.match(node.id))
    return isinstance(node, ast.Call) and _sympy_call_ok(node)


def _sympy_call_ok(node: ast.Call) -> bool:
    if not isinstance(node.func, ast.Name) or node.func.id not in _SYMPY_CALLS:
        return False
    return all(
        kw.arg in _SYMBOL_ASSUMPTIONS and isinstance(kw.value, ast.Constant)
        and isinstance(kw.value.value, bool)
        for kw in node.keywords
    )


def check_guard(text: Any) -> None:
    """Allow comparisons of input sizes (``L['x'].size()[0] == L['y'].size()[0]``) and
    arithmetic over them; torch pastes these strings into code it ``exec``s."""
    tree = _parse(text, "a guard")
    for node in ast.walk(tree):
        if not _guard_node_ok(node):
            raise UnsafeModelError(f"guard {text!r:.200} is not a plain size comparison")


def _guard_node_ok(node: ast.AST) -> bool:
    if not _bounded(node):
        return False
    if isinstance(node, (*_ARITHMETIC, ast.Subscript)):
        return True
    if isinstance(node, ast.Constant):
        value = node.value
        # Strings end up inside a quoted message of the generated code: identifiers only.
        if isinstance(value, str):
            return bool(_IDENT.match(value))
        return isinstance(value, (int, float, bool))
    if isinstance(node, ast.Name):
        return node.id in {"L", "math", "torch"} | _GUARD_CALLS
    if isinstance(node, ast.Attribute):
        return _guard_attribute_ok(node)
    return isinstance(node, ast.Call) and _guard_call_ok(node)


def _guard_attribute_ok(node: ast.Attribute) -> bool:
    base = node.value
    if isinstance(base, ast.Name) and base.id == "math":
        return node.attr in _MATH_FUNCTIONS
    if isinstance(base, ast.Name) and base.id == "torch":
        return node.attr in _TORCH_FUNCTIONS
    # L['x'].size: a method of an input, never of a module or a name.
    return node.attr in _GUARD_METHODS and isinstance(base, ast.Subscript)


def _guard_call_ok(node: ast.Call) -> bool:
    if node.keywords:
        return False
    func = node.func
    if isinstance(func, ast.Name):
        return func.id in _GUARD_CALLS
    return isinstance(func, ast.Attribute) and _guard_attribute_ok(func)


def _small_int(node: ast.AST) -> bool:
    """A literal exponent of at most 64 in size: ``3``, ``-1``, ``0.5``, or sympy's
    ``Integer(3)`` and ``Rational(1, 2)`` of such literals (srepr, torch 2.6-2.9)."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and (
            node.func.id in {"Integer", "Rational", "Float"}) and not node.keywords:
        return bool(node.args) and all(_small_int(arg) for arg in node.args)
    value = node.value if isinstance(node, ast.Constant) else None
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and abs(value) <= _MAX_EXPONENT)


def _bounded(node: ast.AST) -> bool:
    """Keep evaluation cheap: ``9**9**9`` or ``1 << 10**9`` is a few bytes of text that
    sympy or Python would spend minutes and gigabytes on. Integers fit in int64, and a power
    or a shift takes a literal exponent of at most 64."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return -_INT64 <= node.value < _INT64
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Pow, ast.LShift)):
        return _small_int(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and (
            node.func.id in _POWERS):
        return len(node.args) == 2 and _small_int(node.args[1])
    return True
