"""ocr2stage-bench: the evaluation harness (engines, datasets, runner, metrics, report, gate)."""

__version__ = "0.1.0"
