"""Hook specifications: what a plugin of the ``flm`` entry-point group can implement.

A plugin is a module (or object) with functions marked ``@flm_core.hookimpl`` whose names
are listed here, registered through an entry point in the ``flm`` group::

    [project.entry-points.flm]
    torch = "flm_torch"
"""

from __future__ import annotations

from collections.abc import Iterable

import pluggy

from flm_core.records import Codec, Serializer

hookspec = pluggy.HookspecMarker("flm")
hookimpl = pluggy.HookimplMarker("flm")


@hookspec
def flm_serializers() -> Iterable[Serializer]:
    """Return the serializers this plugin provides, one per framework.

    :return: an iterable of :class:`~flm_core.Serializer` records. Each ``name`` must be
        unique across installed plugins; a clash raises ``PluginConflictError``.

    Example::

        @flm_core.hookimpl
        def flm_serializers():
            return [Serializer(name="toy", distribution="flm-toy", can_serialize=is_toy,
                               framework_version=lambda: "1.0", dump=dump, load=load)]
    """
    raise NotImplementedError


@hookspec
def flm_codecs() -> Iterable[Codec]:
    """Return the compression codecs this plugin provides.

    :return: an iterable of :class:`~flm_core.Codec` records. The built-in codecs
        (``zstd``, ``zlib``, ``bz2``, ``lzma``, ``none``) come through this same hook.

    Example::

        @flm_core.hookimpl
        def flm_codecs():
            return [Codec(name="lz4", compress=lz4.frame.compress,
                          decompress=lambda data, size: lz4.frame.decompress(data))]
    """
    raise NotImplementedError
