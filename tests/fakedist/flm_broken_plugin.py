"""flm-broken: a plugin whose import fails, as when its framework is missing."""

raise ImportError("No module named 'some_framework'")
