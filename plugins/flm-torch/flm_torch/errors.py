"""flm-torch's errors: members of flm_core's one exception family."""

from __future__ import annotations

from flm_core import FLMError


class ExampleInputsError(FLMError, ValueError):
    """The model's input cannot be inferred, or example_inputs is unusable; the message
    shows the ``example_inputs=`` to pass."""


class TorchExportError(FLMError):
    """torch.export could not capture the model with the inputs and shapes given."""


class TorchVersionError(FLMError):
    """The installed torch cannot read a program that another torch release wrote; the
    message names both releases."""
