"""Latency statistics per image; the harness measured every number (engines never time themselves)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def latency_stats(ms: Sequence[float]) -> dict[str, float | None]:
    """p50/p95/p99/mean in ms and throughput in images per second (sequential, batch of one)."""
    a = np.asarray([x for x in ms if x is not None and np.isfinite(x)], dtype=float)
    if a.size == 0:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "mean_ms": None, "throughput_ips": None}
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    return {
        "p50_ms": float(p50),
        "p95_ms": float(p95),
        "p99_ms": float(p99),
        "mean_ms": float(a.mean()),
        "throughput_ips": float(1000.0 / a.mean()) if a.mean() > 0 else None,
    }
