"""A positive schema of the serialized program (``torch._export.serde.schema``, major 8).

Default deny: every key of every object must be a field this table names, every union must
hold exactly one known variant, and every string has a kind saying what it may contain.
torch pastes names into Python source it ``exec``s (``def forward(self, <names>)``, keyword
arguments, attribute paths, generated comments), so a name is a plain ASCII identifier, or
a dotted path of them; every other string comes from a closed vocabulary or a strict
pattern for its field. A file that fails raises :class:`~flm_core.UnsafeModelError` before
torch reads it.

Pure Python on purpose, like :mod:`flm_torch._safety`: no torch import.
"""

from __future__ import annotations

from typing import Any

# A spec is one of:
#   "int" | "float" | "bool"                 JSON scalars (no bool where an int is due)
#   ("str", kind)                            a string checked by the kind's rule
#   ("enum", values)                         an int from a closed set
#   ("list", spec) | ("opt", spec)           a list of spec / spec or null
#   ("map", key_kind, spec)                  an object whose keys are strings of key_kind
#   ("struct", name, {field: (spec, required)})
#   ("union", name, {variant: spec})         an object with exactly one of the variants
#   ("ref", name)                            a named spec from SPECS (graphs nest)
#   ("empty",)                               an object or list that must be empty
Spec = Any

SCALAR_TYPES = frozenset({*range(14), *range(28, 36)})
LAYOUTS = frozenset(range(8))
MEMORY_FORMATS = frozenset(range(5))
ARGUMENT_KINDS = frozenset(range(3))


def _s(kind: str) -> Spec:
    return ("str", kind)


def _struct(name: str, required: dict[str, Spec], optional: dict[str, Spec] | None = None,
            ) -> Spec:
    fields = {key: (spec, True) for key, spec in required.items()}
    fields.update({key: (spec, False) for key, spec in (optional or {}).items()})
    return ("struct", name, fields)


def _union(name: str, variants: dict[str, Spec]) -> Spec:
    return ("union", name, variants)


IDENT, FQN, MODULE_FQN = _s("ident"), _s("fqn"), _s("module_fqn")
SYM_INT = _union("SymInt", {"as_expr": ("ref", "SymExpr"), "as_int": "int"})
SYM_FLOAT = _union("SymFloat", {"as_expr": ("ref", "SymExpr"), "as_float": "float"})
SYM_BOOL = _union("SymBool", {"as_expr": ("ref", "SymExpr"), "as_bool": "bool"})
TENSOR_ARG = _struct("TensorArgument", {"name": IDENT})
TOKEN_ARG = _struct("TokenArgument", {"name": IDENT})
SYM_INT_ARG = _union("SymIntArgument", {"as_name": IDENT, "as_int": "int"})
SYM_FLOAT_ARG = _union("SymFloatArgument", {"as_name": IDENT, "as_float": "float"})
SYM_BOOL_ARG = _union("SymBoolArgument", {"as_name": IDENT, "as_bool": "bool"})
OPTIONAL_TENSOR = _union("OptionalTensorArgument", {"as_tensor": TENSOR_ARG, "as_none": "bool"})
DEVICE = _struct("Device", {"type": _s("device")}, {"index": ("opt", "int")})
ARGUMENT = ("ref", "Argument")

SPECS: dict[str, Spec] = {
    "SymExpr": _struct("SymExpr", {"expr_str": _s("expr")}, {"hint": ("opt", _union(
        "SymExprHint", {"as_int": "int", "as_bool": "bool", "as_float": "float"}))}),
    "Argument": _union("Argument", {
        "as_none": "bool",
        "as_tensor": TENSOR_ARG,
        "as_tensors": ("list", TENSOR_ARG),
        "as_int": "int",
        "as_ints": ("list", "int"),
        "as_float": "float",
        "as_floats": ("list", "float"),
        "as_string": _s("value"),
        "as_strings": ("list", _s("value")),
        "as_sym_int": SYM_INT_ARG,
        "as_sym_ints": ("list", SYM_INT_ARG),
        "as_scalar_type": ("enum", SCALAR_TYPES),
        "as_memory_format": ("enum", MEMORY_FORMATS),
        "as_layout": ("enum", LAYOUTS),
        "as_device": DEVICE,
        "as_bool": "bool",
        "as_bools": ("list", "bool"),
        "as_sym_bool": SYM_BOOL_ARG,
        "as_sym_bools": ("list", SYM_BOOL_ARG),
        "as_graph": _struct("GraphArgument", {"name": IDENT, "graph": ("ref", "Graph")}),
        "as_optional_tensors": ("list", OPTIONAL_TENSOR),
        # as_custom_obj is absent on purpose: script objects would need pickle
        "as_operator": _s("target"),
        "as_sym_float": SYM_FLOAT_ARG,
        "as_sym_floats": ("list", SYM_FLOAT_ARG),
        "as_optional_tensor": OPTIONAL_TENSOR,
        "as_complex": _struct("ComplexValue", {"real": "float", "imag": "float"}),
        "as_nested_tensors": ("list", ("list", TENSOR_ARG)),
        "as_int_lists": ("list", ("list", "int")),
        "as_string_to_argument": ("map", "ident", ARGUMENT),
        "as_float_lists": ("list", ("list", "float")),
    }),
    "Node": _struct("Node", {
        "target": _s("target"),
        "inputs": ("list", _struct("NamedArgument", {"name": _s("argument_name"),
                                                     "arg": ARGUMENT},
                                   {"kind": ("opt", ("enum", ARGUMENT_KINDS))})),
        "outputs": ("list", ARGUMENT),
        "metadata": ("map", "node_meta", _s("node_meta")),
    }, {"is_hop_single_tensor_return": ("opt", "bool"), "name": ("opt", IDENT)}),
    "Graph": _struct("Graph", {
        "inputs": ("list", ARGUMENT),
        "outputs": ("list", ARGUMENT),
        "nodes": ("list", ("ref", "Node")),
        "tensor_values": ("map", "ident", _struct("TensorMeta", {
            "dtype": ("enum", SCALAR_TYPES),
            "sizes": ("list", SYM_INT),
            "requires_grad": "bool",
            "device": DEVICE,
            "strides": ("list", SYM_INT),
            "storage_offset": SYM_INT,
            "layout": ("enum", LAYOUTS),
        })),
        "sym_int_values": ("map", "ident", SYM_INT),
        "sym_bool_values": ("map", "ident", SYM_BOOL),
    }, {
        "is_single_tensor_return": "bool",
        "custom_obj_values": ("empty",),
        "sym_float_values": ("map", "ident", SYM_FLOAT),
    }),
}

_CONSTANT = _union("ConstantValue", {"as_none": "bool", "as_int": "int", "as_float": "float",
                                     "as_string": _s("value"), "as_bool": "bool"})
INPUT_SPEC = _union("InputSpec", {
    "user_input": _struct("UserInputSpec", {"arg": ARGUMENT}),
    "parameter": _struct("InputToParameterSpec", {"arg": TENSOR_ARG, "parameter_name": FQN}),
    "buffer": _struct("InputToBufferSpec", {"arg": TENSOR_ARG, "buffer_name": FQN,
                                            "persistent": "bool"}),
    "tensor_constant": _struct("InputToTensorConstantSpec", {
        "arg": TENSOR_ARG, "tensor_constant_name": FQN}),
    # custom_obj is absent on purpose, as above
    "token": _struct("InputTokenSpec", {"arg": TOKEN_ARG}),
    "constant_input": _struct("InputToConstantInputSpec", {"name": IDENT, "value": _CONSTANT}),
})
OUTPUT_SPEC = _union("OutputSpec", {
    "user_output": _struct("UserOutputSpec", {"arg": ARGUMENT}),
    "loss_output": _struct("LossOutputSpec", {"arg": TENSOR_ARG}),
    "buffer_mutation": _struct("BufferMutationSpec", {"arg": TENSOR_ARG, "buffer_name": FQN}),
    "gradient_to_parameter": _struct("GradientToParameterSpec", {
        "arg": TENSOR_ARG, "parameter_name": FQN}),
    "gradient_to_user_input": _struct("GradientToUserInputSpec", {
        "arg": TENSOR_ARG, "user_input_name": IDENT}),
    "user_input_mutation": _struct("UserInputMutationSpec", {
        "arg": TENSOR_ARG, "user_input_name": IDENT}),
    "token": _struct("OutputTokenSpec", {"arg": TOKEN_ARG}),
    "parameter_mutation": _struct("ParameterMutationSpec", {
        "arg": TENSOR_ARG, "parameter_name": FQN}),
})
MODULE_CALL_ENTRY = _struct("ModuleCallEntry", {"fqn": MODULE_FQN}, {
    "signature": ("opt", _struct("ModuleCallSignature", {
        "inputs": ("list", ARGUMENT),
        "outputs": ("list", ARGUMENT),
        "in_spec": _s("in_spec"),
        "out_spec": _s("out_spec"),
    }, {"forward_arg_names": ("opt", ("list", IDENT))})),
})
PROGRAM: Spec = _struct("ExportedProgram", {
    "graph_module": _struct("GraphModule", {
        "graph": ("ref", "Graph"),
        "signature": _struct("GraphSignature", {"input_specs": ("list", INPUT_SPEC),
                                                "output_specs": ("list", OUTPUT_SPEC)}),
        "module_call_graph": ("list", MODULE_CALL_ENTRY),
    }, {
        # both carry free-form JSON torch would parse or resolve by name: must be empty
        "metadata": ("empty",),
        "treespec_namedtuple_fields": ("empty",),
    }),
    "opset_version": ("map", "ident", "int"),
    "range_constraints": ("map", "symbol", _struct("RangeConstraint", {
        "min_val": ("opt", "int"), "max_val": ("opt", "int")})),
    "schema_version": _struct("SchemaVersion", {"major": "int", "minor": "int"}),
}, {
    "verifiers": ("list", _s("verifier")),
    "torch_version": _s("torch_version"),
    "guards_code": ("list", _s("guard")),
})
