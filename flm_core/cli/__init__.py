"""The ``flm`` command: inspect, verify, extract and recompress FLM files; list plugins.

Importing this package costs argparse alone; each subcommand imports what it needs when it
runs, and none imports a framework. :func:`build_parser` is what the docs' CLI reference is
generated from.
"""

from __future__ import annotations

from flm_core.cli.main import main
from flm_core.cli.parser import build_parser

__all__ = ["build_parser", "main"]
