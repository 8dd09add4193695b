"""FLM plugin for PyTorch."""
