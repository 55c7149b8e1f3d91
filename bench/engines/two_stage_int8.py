"""The two-stage reader as a CPU without native bf16 runs it fastest: CRAFT's backbone in int8,
the classifier in float32.

Why a separate engine: the latency target (p50 <= 0.5x EasyOCR) must hold on such CPUs too, and a
bench run measures it against EasyOCR in the same run, on the same images, like any engine.
"""

from __future__ import annotations

from typing import ClassVar

from bench.engines.two_stage import TwoStageEngine


class TwoStageInt8Engine(TwoStageEngine):
    name: ClassVar[str] = "two-stage-int8"
    precision: ClassVar[dict[str, bool]] = {"bf16": False, "int8": True}
