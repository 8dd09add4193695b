"""The ``flm`` command: inspect and verify files, list plugins. Imports no framework."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from flm_core.api import read_meta, verify
from flm_core.errors import FLMError
from flm_core.plugins import Registry


def _meta(args: argparse.Namespace) -> None:
    meta = verify(args.file) if args.verify else read_meta(args.file)
    print(json.dumps(meta.to_dict(), indent=2, default=list))


def _verify(args: argparse.Namespace) -> None:
    meta = verify(args.file)
    section = meta.model_section
    assert section is not None
    print(f"ok: {args.file}: {meta.framework.lib} {meta.model.obj}, "
          f"{len(meta.format.sections)} sections, model sha256 {section.sha256}")


def _plugins(args: argparse.Namespace) -> None:
    registry = Registry.current()
    rows = {
        "frameworks": {name: dist for name, (_, dist) in sorted(registry.serializers.items())},
        "codecs": {name: dist for name, (_, dist) in sorted(registry.codecs.items())},
    }
    print(json.dumps(rows, indent=2))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (FLMError, OSError) as exc:
        print(f"flm: error: {exc}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The `flm` parser; the docs' CLI reference is generated from it."""
    parser = argparse.ArgumentParser(prog="flm", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    meta = commands.add_parser("meta", help="print a file's metadata as JSON (reads a few KB)")
    meta.add_argument("file")
    meta.add_argument("--verify", action="store_true", help="check every byte first")
    meta.set_defaults(run=_meta)
    check = commands.add_parser("verify", help="check every checksum and digest of a file")
    check.add_argument("file")
    check.set_defaults(run=_verify)
    commands.add_parser("plugins", help="list installed frameworks and codecs").set_defaults(
        run=_plugins
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
