"""``flm predict``: load a model through its plugin and print its predictions as JSON.

Inputs come from JSON (a nested list, or ``{name: nested list}`` for several inputs), CSV
(rows of numbers, with an optional header row naming the columns) or ``.npy`` (never
pickled objects); ``-`` reads standard input and tells the format from its first bytes.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from typing import Any

from flm_core.errors import InputError
from flm_core.signature import Signature

NPY_MAGIC = b"\x93NUMPY"


def _number(text: str) -> float | int | None:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return None


def read_csv(text: str, signature: Signature | None) -> Any:
    """Rows of numbers; a first row that is not all numbers is a header naming columns,
    reordered to the signature's columns where it has them."""
    import numpy

    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    if not rows:
        raise InputError("the CSV input holds no rows")
    header = None
    if any(_number(cell.strip()) is None for cell in rows[0]):
        header, rows = [cell.strip() for cell in rows[0]], rows[1:]
    values = []
    for line, row in enumerate(rows, start=2 if header else 1):
        numbers = [_number(cell.strip()) for cell in row]
        if None in numbers:
            raise InputError(f"CSV line {line}: {row!r} holds a non-numeric value")
        values.append(numbers)
    array = numpy.asarray(values) if values else numpy.empty((0, len(header or [])))
    columns = signature.inputs[0].columns if signature and len(signature.inputs) == 1 else None
    if header and columns:
        missing = [c for c in columns if c not in header]
        if missing:
            raise InputError(f"the CSV header lacks the model's columns {missing}")
        array = array[:, [header.index(c) for c in columns]]
    return array


def read_input(data: bytes, name: str, signature: Signature | None) -> Any:
    """Inputs from the bytes of ``name``: its suffix decides the format, or for ``-`` its
    first bytes do."""
    import numpy

    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix == "npy" or (name == "-" and data.startswith(NPY_MAGIC)):
        try:
            return numpy.load(io.BytesIO(data), allow_pickle=False)
        except ValueError as exc:
            raise InputError(f"not a .npy array of numbers or strings: {exc}") from None
    text = data.decode("utf-8-sig", errors="replace")
    if suffix == "json" or (name == "-" and text.lstrip()[:1] in ("[", "{")):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON: {exc}") from None
        if not isinstance(value, (list, dict)):
            raise InputError("the JSON input must be a list of rows or {name: rows}")
        return value
    if suffix in ("csv", "") or name == "-":
        return read_csv(text, signature)
    raise InputError(f"unknown input format .{suffix}: give a .json, .csv or .npy file")


def _json(value: Any) -> Any:
    if isinstance(value, dict):
        return {name: _json(v) for name, v in value.items()}
    return value.tolist()


def predict(args: argparse.Namespace) -> int:
    from flm_core.api import load
    from flm_core.cli.commands import _about, _emit
    from flm_core.cli.files import STORAGE_OPTIONS, display_name, open_input
    from flm_core.inference import Predictor

    options = {"method": args.method} if args.method else {}
    with _about(args.file), load(args.file, storage_options=STORAGE_OPTIONS) as artifact:
        predictor = Predictor.from_artifact(artifact, source=display_name(args.file))
        with _about(args.input):
            with open_input(args.input) as stream:
                data = stream.read()
            inputs = read_input(data, args.input, predictor.signature)
            outputs = predictor(inputs, **options)
    _emit(json.dumps(_json(outputs), indent=2 if args.pretty else None))
    return 0
