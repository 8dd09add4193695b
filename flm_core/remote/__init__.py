"""Object storage through fsspec: URLs wherever ``dump``, ``load``, ``read_meta`` and
``verify`` take a path. Imported only for URLs; fsspec only when a URL is opened.

The container code sees a file-like object either way: :func:`reading` yields a seekable
reader whose range requests grow and run ahead while the caller reads in order, and
:func:`writing` yields a stream that uploads as it is written and becomes visible at the
URL only when the whole file has been written.
"""

from __future__ import annotations

from flm_core.remote.cache import cached_copy, evict
from flm_core.remote.fs import is_url, redact
from flm_core.remote.ranges import reading
from flm_core.remote.upload import writing

__all__ = ["cached_copy", "evict", "is_url", "reading", "redact", "writing"]
