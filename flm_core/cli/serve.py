"""``flm serve``: load every model, then serve them with uvicorn until SIGINT or SIGTERM.

Loading comes first, so a file that fails stops the command before anything listens: no
half-up server. uvicorn's own shutdown is graceful: it stops accepting connections, lets
the requests in flight finish, then the app drains its thread pool.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

from flm_core.errors import FLMError

INSTALL = 'pip install "flm-core[serve]"'


class MissingExtraError(FLMError):
    """``flm serve`` needs Starlette and uvicorn: the message names the install."""


def _check_extra() -> None:
    missing = []
    for name in ("starlette", "uvicorn"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise MissingExtraError(f"flm serve needs {' and '.join(missing)}: {INSTALL} "
                                f"(from a checkout: pip install './[serve]')")


def serve(args: argparse.Namespace) -> int:
    _check_extra()
    import uvicorn

    from flm_core.serve.app import create_app
    from flm_core.serve.models import load_models

    if args.max_body < 1:
        raise FLMError(f"--max-body must be a positive number of bytes, not {args.max_body}")
    from flm_core.cli.files import STORAGE_OPTIONS

    models = load_models(args.models, storage_options=STORAGE_OPTIONS)
    app = create_app(models, max_body=args.max_body, workers=args.workers)
    for name, model in models.items():
        print(f"flm serve: {name} <- {model.source} ({model.meta.framework.lib})",
              file=sys.stderr)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level,
                            timeout_graceful_shutdown=30, access_log=False)
    server = uvicorn.Server(config)
    # uvicorn shuts down gracefully, then passes the signal on: _Stopped
    with _stop_signals(), contextlib.suppress(_Stopped):
        server.run()
    # uvicorn returns quietly when it cannot bind or its lifespan fails: exit 1 then
    return 0 if server.started else 1


class _Stopped(Exception):
    pass


@contextlib.contextmanager
def _stop_signals() -> Iterator[None]:
    """uvicorn catches SIGINT and SIGTERM, shuts down gracefully, then raises the signal
    again for the handler it found: this one, so that a requested stop exits 0 instead of
    dying by the signal."""
    def stopped(signum: int, frame: Any) -> None:
        raise _Stopped

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
