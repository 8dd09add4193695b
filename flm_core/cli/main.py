"""``flm``'s entry point: parse, run one command, report errors in one line each."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from flm_core.cli.parser import build_parser


def _run(argv: Sequence[str] | None) -> int:
    from flm_core.cli import commands, files
    from flm_core.cli.files import UsageError
    from flm_core.errors import FLMError

    args = build_parser().parse_args(argv)
    try:
        files.STORAGE_OPTIONS = files.storage_options(getattr(args, "storage_option", []))
        status: int = getattr(commands, args.run)(args)
        sys.stdout.flush()  # a closed pipe must show here, inside the handler below
        return status
    except BrokenPipeError:
        raise
    except (commands.FileError, UsageError, FLMError, OSError) as exc:
        print(f"flm: error: {exc}", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``flm`` with ``argv`` (default: the command line); return the exit status."""
    try:
        return _run(argv)
    except BrokenPipeError:
        # The reader went away (`flm inspect x.flm | head -1`). As the Python docs advise
        # (signal module, "Note on SIGPIPE"): point stdout at devnull so the interpreter's
        # final flush cannot fail again, and exit 1 without a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        return 130
