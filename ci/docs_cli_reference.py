"""MkDocs hook: the CLI reference, generated from the `flm` command's own argparse parser.

A page holding ``<!-- flm-cli-reference -->`` gets the ``--help`` of ``flm`` and of each
subcommand in its place, so the reference cannot drift from the code.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

MARKER = "<!-- flm-cli-reference -->"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found: dict[str, argparse.ArgumentParser] = {}
    seen: set[int] = set()
    for action in parser._actions:  # argparse has no public way to list subparsers
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if id(sub) not in seen:  # aliases map to the same parser
                    seen.add(id(sub))
                    found[name] = sub
    return found


def reference() -> str:
    from flm_core.cli import build_parser

    os.environ["COLUMNS"] = "96"  # argparse wraps to the terminal: fix it for a stable page
    parser = build_parser()
    parts = ["## `flm`", "", "```text", parser.format_help().rstrip(), "```", ""]
    for name, sub in _subcommands(parser).items():
        parts += [f"## `flm {name}`", "", "```text", sub.format_help().rstrip(), "```", ""]
    return "\n".join(parts)


def on_page_markdown(markdown: str, **_: Any) -> str:
    return markdown.replace(MARKER, reference()) if MARKER in markdown else markdown
