"""The two-stage reader in PyTorch with CRAFT's backbone in int8 (backend ``torch-int8``), the
classifier float32.

Why a separate engine when ``--engine-option two-stage.backend=`` picks any backend: one run can
then hold this precision beside ``two-stage`` (``auto``), on the same images, engines taking
turns, which is how a precision's accuracy and speed are compared fairly.
"""

from __future__ import annotations

from typing import ClassVar

from bench.engines.two_stage import TwoStageEngine


class TwoStageInt8Engine(TwoStageEngine):
    name: ClassVar[str] = "two-stage-int8"

    def __init__(self, device: str = "cpu", classifier: str | None = None, backend: str = "torch-int8") -> None:
        """As ``two-stage``, with ``torch-int8`` as the backend unless another is asked for."""
        super().__init__(device, classifier, backend)
