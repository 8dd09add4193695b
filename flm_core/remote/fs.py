"""Resolving a URL to an fsspec filesystem, and turning its failures into RemoteError.

Messages name the URL with any user, password and query string removed, and never repeat a
value given in ``storage_options``: those are where credentials live.
"""

from __future__ import annotations

import contextlib
import re
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any

from flm_core.errors import RemoteError

EXTRA = 'pip install "flm-core[remote]"'
# A scheme of two or more letters, or an fsspec chain ("simplecache::s3://..."); one letter
# followed by ":/" is a Windows drive.
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+(::|://)")
_BACKENDS = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs",
             "abfs": "adlfs", "abfss": "adlfs", "http": "aiohttp", "https": "aiohttp"}


def is_url(target: object) -> bool:
    """Whether ``target`` is a URL for fsspec rather than a local path."""
    return isinstance(target, str) and _URL.match(target) is not None


def redact(url: str) -> str:
    """``url`` without user, password, query string or fragment (signed URLs carry keys)."""
    parts = urllib.parse.urlsplit(url.split("::")[-1])
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def _secrets(options: Mapping[str, Any]) -> Iterator[str]:
    for value in options.values():
        if isinstance(value, Mapping):
            yield from _secrets(value)
        elif isinstance(value, str) and len(value) >= 4:
            yield value


def scrub(text: str, options: Mapping[str, Any], url: str = "") -> str:
    """``text`` with every string given in ``options``, and the URL's password and query,
    masked: backends echo some of them."""
    parts = urllib.parse.urlsplit(url.split("::")[-1])
    found = [*_secrets(options), *(s for s in (parts.password, parts.query) if s)]
    for secret in sorted(found, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def filesystem(url: str, options: Mapping[str, Any]) -> tuple[Any, str]:
    """The fsspec filesystem and the path inside it for ``url``."""
    try:
        import fsspec.core
    except ImportError:
        raise RemoteError(f"{redact(url)}: URLs need fsspec: {EXTRA}") from None
    with errors(url, options, "open"):
        return fsspec.core.url_to_fs(url, **options)  # type: ignore[no-any-return]


def is_local(fs: Any) -> bool:
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)


def _advice(exc: BaseException, url: str) -> str:
    text = str(exc)
    if isinstance(exc, ImportError) or "Install " in text:
        scheme = url.split("://")[0].split("::")[-1]
        package = _BACKENDS.get(scheme, "the fsspec backend for " + scheme)
        return f"the {scheme}:// backend is not installed: pip install {package}"
    if isinstance(exc, FileNotFoundError):
        bucket = "NoSuchBucket" in text or "bucket does not exist" in text.lower()
        what = "bucket" if bucket else "object (or no such bucket)"
        return f"no such {what}, or not visible with these credentials; check the URL"
    if isinstance(exc, PermissionError):
        return ("access denied: check the credentials (storage_options or the backend's "
                "environment variables) and their permissions")
    return "the storage backend failed; check the URL, endpoint and network"


@contextlib.contextmanager
def errors(url: str, options: Mapping[str, Any], action: str) -> Iterator[None]:
    """Translate whatever the backend raises during ``action`` into a RemoteError."""
    try:
        yield
    except RemoteError:
        raise
    except Exception as exc:
        detail = scrub(f"{type(exc).__name__}: {exc}", options, url)
        raise RemoteError(
            f"cannot {action} {redact(url)}: {_advice(exc, url)} ({detail})"
        ) from None  # the cause's traceback may hold the options
