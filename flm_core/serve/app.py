"""The app factory: ``create_app(models, ...)`` builds a Starlette app over loaded models.

Nothing happens at import time. The thread pool that runs model calls starts with the app
(lifespan) and is drained at shutdown, after uvicorn stops accepting connections and lets
the requests in flight finish.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flm_core.errors import InputError, OptionError, PredictionNotSupportedError
from flm_core.serve.models import ServedModel, close_models
from flm_core.serve.openapi import openapi
from flm_core.serve.routes import HTTPError, error, routes

MAX_BODY = 16 * 1024 * 1024


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Answer 413 to a request body over ``limit`` bytes: at once when Content-Length says
    so, else as soon as the bytes read pass it (chunked uploads), before any is parsed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await self._refuse(scope, receive, send)
            return
        seen = 0
        started = False

        async def counting() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting, tracking)
        except _TooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error(413, f"the request body is over the limit of {self.limit} bytes")
        response.headers["connection"] = "close"  # the rest of the body is never read
        await response(scope, receive, send)


def _handlers() -> dict[Any, Any]:
    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPError)
        return error(exc.status, str(exc))

    async def bad_input(request: Request, exc: Exception) -> Response:
        return error(400, str(exc))

    async def cannot_predict(request: Request, exc: Exception) -> Response:
        return error(501, str(exc))

    async def starlette_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        return error(status, str(getattr(exc, "detail", "")) or "error")

    from starlette.exceptions import HTTPException

    return {HTTPError: http_error, InputError: bad_input, OptionError: bad_input,
            PredictionNotSupportedError: cannot_predict, HTTPException: starlette_error}


def create_app(models: Mapping[str, ServedModel], *, max_body: int = MAX_BODY,
               workers: int | None = None, close: bool = True) -> Starlette:
    """An ASGI app serving ``models`` (from :func:`flm_core.serve.models.load_models`).

    :param max_body: request bodies over this many bytes get a 413.
    :param workers: threads running model calls (default: CPU count, at most 8).
    :param close: close the models (their unpacked artifacts) when the app shuts down.
    """
    served = dict(models)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        count = workers or min(os.cpu_count() or 1, 8)
        app.state.pool = ThreadPoolExecutor(count, thread_name_prefix="flm-serve")
        app.state.ready = True
        try:
            yield
        finally:
            app.state.ready = False
            app.state.pool.shutdown(wait=True)
            if close:
                close_models(served)

    app = Starlette(routes=routes, exception_handlers=_handlers(), lifespan=lifespan,
                    middleware=[Middleware(BodyLimit, limit=max_body)])
    app.state.models = served
    app.state.ready = False
    app.state.server_metadata = _server_metadata()
    app.state.openapi = openapi(served)
    return app


def _server_metadata() -> dict[str, Any]:
    import flm_core

    return {"name": "flm", "version": flm_core.__version__, "extensions": []}

