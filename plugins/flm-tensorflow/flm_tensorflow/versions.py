"""Installed versions of TensorFlow and Keras, read without importing either."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys

# tensorflow and tensorflow-cpu (and the vendor builds) install the same `tensorflow` package.
_TF_DISTRIBUTIONS = (
    "tensorflow",
    "tensorflow-cpu",
    "tensorflow-intel",
    "tensorflow-macos",
    "tensorflow-aarch64",
    "tf-nightly",
    "tf-nightly-cpu",
)


def _distribution_version(names: tuple[str, ...]) -> str | None:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def keras_version() -> str:
    """The installed Keras version, without importing Keras when it is not loaded yet."""
    version = getattr(sys.modules.get("keras"), "__version__", None)
    if isinstance(version, str):
        return version
    return _distribution_version(("keras", "keras-nightly")) or "unknown"


def framework_version() -> str:
    """TensorFlow's version when TensorFlow is installed, else Keras's.

    The file records ``framework.lib = "tensorflow"``, and TensorFlow's version is the one
    its users know. Keras installed alone (e.g. on the JAX backend) can still read these
    files, so then Keras's version stands in. Either way ``model.info["keras_version"]``
    records Keras's version, which ``load`` also compares (see ``saving.py``).
    Never imports TensorFlow: reading a version must not cost seconds.
    """
    version = getattr(sys.modules.get("tensorflow"), "__version__", None)
    if isinstance(version, str):
        return version
    if importlib.util.find_spec("tensorflow") is not None:
        found = _distribution_version(_TF_DISTRIBUTIONS)
        if found:
            return found
    return keras_version()
