"""The harness: feature caches, head training, metrics, results and the `ccbench` CLI."""

__version__ = "0.1.0"
