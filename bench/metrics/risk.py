"""Misreads against no-reads: what an engine's confidence is worth when it may decline to answer.

On a production line a reader that returns nothing sends the part to a person (a no-read); one
that confidently returns a wrong code ships the wrong part (a misread). A confidence threshold
turns misreads into no-reads, at the price of no-reads among the right readings, so readers are
compared by their read rate at a fixed, small misread rate.

Pure functions over per-image arrays: whether the code is right, whether the engine returned one,
its code-level confidence (``bench.readout.code_confidence``) and, for the cross-fitted operating
points, which half of the images each image is in. Nothing here reads a file or knows an engine.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from numpy.typing import ArrayLike

from bench.metrics.significance import DEFAULT_RESAMPLES, DEFAULT_SEED, Interval

MAX_MISREADS = (0.01, 0.001)
"""The operating points reported: the read rate at <= 1% and at <= 0.1% misreads among accepted codes."""
BINS = 10
"""Equal-width confidence bins of the reliability diagram and the ECE."""
_CHUNK = 250
"""Bootstrap resamples drawn at once: bounds memory to ``_CHUNK * images`` counts."""


class Outcome(IntEnum):
    """What one image's reading is worth on a production line."""

    NO_READ = 0
    """No code returned, or a code not accepted (below the threshold, failing its format): a person looks."""
    READ = 1
    """The accepted code is right."""
    MISREAD = 2
    """The accepted code is wrong: the costly case."""


def outcomes(correct: ArrayLike, returned: ArrayLike, accepted: ArrayLike | None = None) -> np.ndarray:
    """Per image: no-read, read (right) or misread, as :class:`Outcome` codes (int8).

    The one definition shared by every rule that may decline a code: ``returned`` says the engine
    returned a non-empty code (no error); ``accepted``, when given, is a further mask of codes
    accepted by some rule (a format or check-digit test, a confidence threshold). A code that is
    not returned or not accepted is a no-read, whether or not it would have been right.
    """
    c, r = np.asarray(correct, dtype=bool), np.asarray(returned, dtype=bool)
    if accepted is not None:
        r = r & np.asarray(accepted, dtype=bool)
    out = np.full(c.shape, Outcome.NO_READ, dtype=np.int8)
    out[r & c] = Outcome.READ
    out[r & ~c] = Outcome.MISREAD
    return out


def halves(files: Sequence[str]) -> np.ndarray:
    """Which half of the images each file is in (True = first half), for cross-fitting.

    Files are ranked by a checksum of their name and alternate between the halves: the split is
    balanced, the same for every engine and for every run of the same images (so the gate pairs
    like with like), and unrelated to the dataset's order (which often groups styles).
    """
    order = sorted(range(len(files)), key=lambda i: (zlib.crc32(files[i].encode("utf-8")), files[i]))
    first = np.zeros(len(files), dtype=bool)
    first[order[::2]] = True
    return first


@dataclass(frozen=True)
class RiskCoverage:
    """The risk-coverage curve: one point per distinct confidence, highest threshold first.

    At threshold t every returned code with confidence >= t is accepted. ``read_rate`` is the share
    of all images accepted; ``misread_rate`` the share of accepted codes that are wrong.
    """

    thresholds: np.ndarray
    read_rate: np.ndarray
    misread_rate: np.ndarray
    n: int
    aurc: float
    """Area under misread rate over read rate (lower is better), up to the engine's highest read rate."""


def _sorted_candidates(outcome: np.ndarray, confidence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Confidences of the returned codes, highest first, and whether each is wrong. A code without a
    confidence (nan) is accepted at every threshold, like ``code_confidence``'s engines without one."""
    cand = outcome != Outcome.NO_READ
    conf = np.nan_to_num(confidence[cand].astype(float), nan=np.inf)
    order = np.argsort(-conf, kind="stable")
    return conf[order], (outcome[cand] == Outcome.MISREAD)[order]


def _group_ends(conf_sorted: np.ndarray) -> np.ndarray:
    """Index of the last code of each run of equal confidences: a threshold accepts ties together."""
    return np.flatnonzero(np.r_[conf_sorted[1:] != conf_sorted[:-1], True]) if conf_sorted.size else np.array([], int)


def risk_coverage(outcome: ArrayLike, confidence: ArrayLike) -> RiskCoverage:
    """Sweep the threshold over every distinct confidence of the codes the engine returned.

    ``outcome`` are :func:`outcomes` codes before any threshold; no-reads stay no-reads at every
    threshold. AURC sums each step's misread rate times the read rate it adds, which is the usual
    mean selective risk over the ranked images when no two confidences tie.
    """
    o, c = np.asarray(outcome), np.asarray(confidence, dtype=float)
    conf, wrong = _sorted_candidates(o, c)
    ends = _group_ends(conf)
    accepted = ends + 1
    misreads = np.cumsum(wrong)[ends] if ends.size else np.array([], int)
    n = int(o.size)
    read_rate = accepted / max(n, 1)
    misread_rate = misreads / np.maximum(accepted, 1)
    aurc = float(np.sum(np.diff(np.r_[0.0, read_rate]) * misread_rate))
    return RiskCoverage(conf[ends], read_rate, misread_rate, n, aurc)


@dataclass(frozen=True)
class _Ranked:
    """One set of images ranked for the sweep: returned codes by confidence (highest first), then the
    no-reads at -inf (never accepted; they count in the read rate's denominator and are resampled)."""

    conf: np.ndarray
    wrong: np.ndarray
    ends: np.ndarray
    """Ends of the tie groups at which the best threshold can lie: a group holding a misread, the
    group before one, and the last. Between misreads the misread rate only falls, so the most codes
    within a limit are always accepted at one of these, in every resample too (resampling only
    drops or repeats images)."""

    n_codes: int
    """Returned codes: the first ``n_codes`` of the ranking, the rest are no-reads."""

    @staticmethod
    def of(outcome: np.ndarray, confidence: np.ndarray) -> _Ranked:
        conf, wrong = _sorted_candidates(outcome, confidence)
        ends = _group_ends(conf)
        if ends.size:
            has_wrong = np.add.reduceat(wrong, np.r_[0, ends[:-1] + 1]) > 0
            ends = ends[has_wrong | np.r_[has_wrong[1:], True]]
        n_no = int(np.sum(outcome == Outcome.NO_READ))
        return _Ranked(np.r_[conf, np.full(n_no, -np.inf)], np.r_[wrong, np.zeros(n_no, dtype=bool)], ends, conf.size)

    @property
    def thresholds(self) -> np.ndarray:
        """The candidate thresholds, then +inf: accept nothing (but codes without a confidence).

        Each is the lowest confidence it accepts, except that accepting every code is -inf: with
        no misread to avoid, a threshold at the lowest confidence seen would turn away lower ones
        on other images for nothing."""
        t = np.r_[self.conf[self.ends], np.inf]
        if self.ends.size and self.ends[-1] == self.n_codes - 1:
            t[-2] = -np.inf
        return t

    def accepted(self, thresholds: np.ndarray) -> np.ndarray:
        """How many of these codes each threshold accepts (a prefix length of the ranking)."""
        return np.minimum(np.searchsorted(-self.conf, -thresholds, side="right"), self.n_codes)


class _Counts:
    """Resampled counts of a ranking, compressed to the prefixes that are ever asked for.

    Why: resampling every image of a 10,000-image run 2,000 times is 20 million draws per pass;
    only the counts of accepted codes and misreads at a few prefix lengths matter, so the ranking
    is cut into runs that are all right or one misread, between those prefixes, and each resample
    draws how many images fall into each run, then sums them up.
    """

    def __init__(self, ranked: _Ranked, prefixes: np.ndarray) -> None:
        m = ranked.conf.size
        wrong_at = np.flatnonzero(ranked.wrong)
        cuts = np.unique(np.r_[prefixes, wrong_at, wrong_at + 1, m])
        self.cuts = cuts[cuts > 0]
        self.sizes = np.diff(np.r_[0, self.cuts])
        self.wrong = ranked.wrong[self.cuts - 1] if self.cuts.size else np.array([], dtype=bool)
        self.m = m
        self.category = np.searchsorted(self.cuts, np.arange(m), side="right")

    def draw(self, rows: int | None, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Cumulative accepted and misread counts per cut: the data itself (``rows`` None) or resamples."""
        if rows is None:
            w = self.sizes[None, :].astype(float)
        elif not self.m:
            w = np.zeros((rows, 0))
        elif 4 * self.sizes.size < self.m:  # few runs: draw their counts directly
            w = rng.multinomial(self.m, self.sizes / self.m, size=rows).astype(float)
        else:  # about one run per image: draw images, count them per run (faster than a multinomial)
            k = self.sizes.size
            idx = self.category[rng.integers(0, self.m, size=(rows, self.m))] + (np.arange(rows) * k)[:, None]
            w = np.bincount(idx.ravel(), minlength=rows * k).reshape(rows, k).astype(float)
        return np.cumsum(w, axis=1), np.cumsum(w * self.wrong, axis=1)

    def at(self, cum: np.ndarray, prefix: np.ndarray) -> np.ndarray:
        """Per row the cumulative count at that row's prefix length (0 for an empty prefix)."""
        if not cum.shape[1]:
            return np.zeros(cum.shape[0])
        q = np.minimum(np.searchsorted(self.cuts, prefix), cum.shape[1] - 1)
        return np.where(prefix > 0, cum[np.arange(cum.shape[0]), q], 0.0)


def _choose(ranked: _Ranked, counts: _Counts, cum_w: np.ndarray, cum_e: np.ndarray, max_misread: float) -> np.ndarray:
    """Per row: index into ``ranked.thresholds`` of the lowest threshold whose misread rate is
    <= ``max_misread`` (the most codes read within the limit); the last index (+inf) when none is."""
    none = ranked.ends.size
    if not none:
        return np.zeros(cum_w.shape[0], dtype=int)
    q = np.searchsorted(counts.cuts, ranked.ends + 1)
    ok = cum_e[:, q] <= max_misread * cum_w[:, q] + 1e-9
    last = none - 1 - np.argmax(ok[:, ::-1], axis=1)
    return np.where(ok.any(axis=1), last, none)


def choose_threshold(outcome: ArrayLike, confidence: ArrayLike, max_misread: float) -> float:
    """The lowest threshold at which at most ``max_misread`` of the accepted codes are wrong on these
    images (+inf: none is low enough, accept nothing). Chosen and scored on the same images it is
    optimistic; :func:`held_out_accepted` scores it on other images."""
    ranked = _Ranked.of(np.asarray(outcome), np.asarray(confidence, dtype=float))
    counts = _Counts(ranked, ranked.ends + 1)
    return float(
        ranked.thresholds[_choose(ranked, counts, *counts.draw(None, np.random.default_rng()), max_misread)[0]]
    )


def held_out_accepted(outcome: ArrayLike, confidence: ArrayLike, first: ArrayLike, max_misread: float) -> np.ndarray:
    """Per image: accepted at the threshold chosen on the *other* half (cross-fitting), as a bool mask.

    The per-image outcomes behind a cross-fitted read rate; the gate pairs them between two runs.
    """
    o, c, f = np.asarray(outcome), np.asarray(confidence, dtype=float), np.asarray(first, dtype=bool)
    conf = np.nan_to_num(c, nan=np.inf)
    out = np.zeros(o.size, dtype=bool)
    for choose_on in (f, ~f):
        t = choose_threshold(o[choose_on], c[choose_on], max_misread)
        out[~choose_on] = (o[~choose_on] != Outcome.NO_READ) & (conf[~choose_on] >= t)
    return out


@dataclass(frozen=True)
class OperatingPoint:
    """The read rate an engine reaches when its misreads may be at most ``max_misread`` of its reads."""

    max_misread: float
    read_rate: Interval
    """Cross-fitted: threshold chosen on one half, read rate measured on the other, and swapped; the
    interval bootstraps the whole procedure (images resampled within each half, thresholds re-chosen)."""
    misread_rate: float
    """Misreads among the codes accepted on the held-out halves (may exceed ``max_misread``: that
    is what a threshold chosen on other images does)."""
    misreads: int
    thresholds: tuple[float, float]
    """Chosen on the first half (applied to the second) and on the second (applied to the first)."""
    threshold: float
    """Chosen on all images: the setting to deploy, whose read rate the cross-fitted one estimates."""


def _crossfit(
    parts: list[_Ranked], counts: list[_Counts], rows: int | None, rng: np.random.Generator, targets: Sequence[float]
) -> dict[float, tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]]:
    """Per target and row (the data, or resamples): accepted, misread, images and both thresholds."""
    cums = [c.draw(rows, rng) for c in counts]
    total = sum(cum_w[:, -1] if cum_w.shape[1] else np.zeros(cum_w.shape[0]) for cum_w, _ in cums)
    out = {}
    for t in targets:
        acc: np.ndarray | float = 0.0
        err: np.ndarray | float = 0.0
        chosen: list[np.ndarray] = []
        for i, j in ((0, 1), (1, 0)):
            k = _choose(parts[i], counts[i], *cums[i], t)
            thr = parts[i].thresholds[k]
            prefix = parts[j].accepted(thr)
            acc = acc + counts[j].at(cums[j][0], prefix)
            err = err + counts[j].at(cums[j][1], prefix)
            chosen.append(thr)
        out[t] = (np.asarray(acc, dtype=float), np.asarray(err, dtype=float), np.asarray(total, dtype=float), chosen)
    return out


def operating_points(
    outcome: ArrayLike,
    confidence: ArrayLike,
    first: ArrayLike,
    max_misreads: Sequence[float] = MAX_MISREADS,
    *,
    confidence_level: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> list[OperatingPoint]:
    """Read rate at each misread limit, cross-fitted over the two halves marked by ``first``.

    Why cross-fit: a threshold chosen on the images it is scored on fits their luck, above all at
    0.1%, where one misread decides it. Why bootstrap the whole procedure: at such limits the
    threshold itself is the main uncertainty, which an interval of the read rate alone would hide.
    Every resample draws each half's images with replacement, re-chooses both thresholds and
    re-scores them.
    """
    o, c, f = np.asarray(outcome), np.asarray(confidence, dtype=float), np.asarray(first, dtype=bool)
    parts = [_Ranked.of(o[f], c[f]), _Ranked.of(o[~f], c[~f])]
    counts = [
        _Counts(parts[i], np.r_[parts[i].ends + 1, parts[i].accepted(parts[j].thresholds)]) for i, j in ((0, 1), (1, 0))
    ]
    rng = np.random.default_rng(seed)
    point = _crossfit(parts, counts, None, rng, max_misreads)
    rates: dict[float, list[np.ndarray]] = {t: [] for t in max_misreads}
    for start in range(0, n_resamples if o.size else 0, _CHUNK):
        for t, (acc_r, _, total_r, _) in _crossfit(
            parts, counts, min(_CHUNK, n_resamples - start), rng, max_misreads
        ).items():
            rates[t].append(acc_r / np.maximum(total_r, 1))
    tail = (1 - confidence_level) / 2 * 100
    out = []
    for t in max_misreads:
        acc_, err_, total_, chosen = point[t]
        acc, err, total = float(acc_.ravel()[0]), float(err_.ravel()[0]), float(total_.ravel()[0])
        low, high = np.percentile(np.concatenate(rates[t]), [tail, 100 - tail]) if rates[t] else (np.nan, np.nan)
        out.append(
            OperatingPoint(
                max_misread=t,
                read_rate=Interval(
                    acc / total if total else float("nan"), float(low), float(high), int(o.size), confidence_level
                ),
                misread_rate=err / acc if acc else 0.0,
                misreads=int(err),
                thresholds=(float(chosen[0][0]), float(chosen[1][0])),
                threshold=choose_threshold(o, c, t),
            )
        )
    return out


@dataclass(frozen=True)
class Reliability:
    """Reliability diagram: per confidence bin the mean confidence and the share of codes right."""

    edges: np.ndarray
    count: np.ndarray
    confidence: np.ndarray
    """Mean confidence per bin (nan where empty)."""
    accuracy: np.ndarray
    """Share of the bin's codes that are right (nan where empty)."""
    ece: float
    """Expected calibration error: |accuracy - confidence| per bin, weighted by its share of codes."""


def reliability(outcome: ArrayLike, confidence: ArrayLike, bins: int = BINS) -> Reliability:
    """Does "0.9" mean 90%? Over the codes the engine returned (no-reads have nothing to calibrate),
    in equal-width bins of confidence (clipped to [0, 1]; a code without one counts as 1.0)."""
    o = np.asarray(outcome)
    cand = o != Outcome.NO_READ
    conf = np.clip(np.nan_to_num(np.asarray(confidence, dtype=float)[cand], nan=1.0), 0.0, 1.0)
    right = (o[cand] == Outcome.READ).astype(float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, conf, minlength=bins) / count
        accuracy = np.bincount(which, right, minlength=bins) / count
    gaps = np.nan_to_num(np.abs(accuracy - mean_conf)) * count
    ece = float(gaps.sum() / count.sum()) if count.sum() else float("nan")
    return Reliability(edges, count, mean_conf, accuracy, ece)
