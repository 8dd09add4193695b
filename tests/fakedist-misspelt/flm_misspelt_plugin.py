"""flm-misspelt: implements ``flm_serializer`` (no s), a hook that does not exist."""

import flm_core


@flm_core.hookimpl
def flm_serializer() -> list[flm_core.Serializer]:
    return []
