"""FLM's benchmark suite: FLM against flama 2.2.2 and the frameworks' own savers.

Run ``python -m benchmarks --quick`` (or ``nox -s bench``); see run.py.
"""
