"""``flm serve``: models over HTTP, the Open Inference Protocol v2 and flama's routes.

Needs the ``serve`` extra (Starlette and uvicorn): ``pip install "flm-core[serve]"``. Only
``flm serve`` imports this package; ``import flm_core`` and the other subcommands never do.

- :mod:`flm_core.serve.codec`: the protocol's JSON tensors to and from numpy;
- :mod:`flm_core.serve.models`: loading the models and describing them;
- :mod:`flm_core.serve.routes`: the routes; :mod:`flm_core.serve.app`: ``create_app``.
"""
