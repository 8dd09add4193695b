"""Every hook is documented under a heading that is its signature, and tested here.

Adding a hook to flm_core/hookspecs.py without a section in docs/hooks.md, or without a
``test_hook_<name>`` below, fails this module (the datasette rule).
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path
from typing import Any

import flm_core
from flm_core import hookspecs
from flm_core.plugins import Registry

DOCS = Path(__file__).parents[1] / "docs" / "hooks.md"
HOOKS = sorted(name for name in vars(hookspecs) if name.startswith("flm_"))


def test_every_hook_has_a_documented_section_and_a_test() -> None:
    headings = set(re.findall(r"^## `(flm_\w+)\(", DOCS.read_text(), flags=re.MULTILINE))
    assert headings == set(HOOKS)
    tests = {name for name in vars(sys.modules[__name__]) if name.startswith("test_hook_")}
    assert tests == {f"test_hook_{name}" for name in HOOKS}


def test_every_hook_has_a_docstring_with_an_example() -> None:
    for name in HOOKS:
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        assert doc.splitlines()[0] and ":return:" in doc and "Example::" in doc, name


def test_hook_flm_serializers(register: Any, toy: Any) -> None:
    assert "toy" in Registry.current().serializers
    assert Registry.current().serializer_for(toy.model()).name == "toy"


def test_hook_flm_codecs(register: Any) -> None:
    class Reversing:
        @flm_core.hookimpl
        def flm_codecs(self) -> list[flm_core.Codec]:
            return [flm_core.Codec(name="reverse", compress=lambda b: bytes(b)[::-1],
                                   decompress=lambda data, size: bytes(data)[::-1])]

    register(Reversing())
    codec = Registry.current().codec("reverse")
    assert codec.decompress(codec.compress(memoryview(b"abc")), 3) == b"abc"
