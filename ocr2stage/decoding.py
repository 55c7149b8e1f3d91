"""Constrained reading: the most probable code a format accepts, or a no-read saying why.

The two-stage reader knows, for every box on a line, the probability of each character and of
"not a character". Reading under a format is then a shortest path: exact dynamic programming over
(box, automaton state), each box either read as one of the characters the automaton allows there
(cost ``-log p``) or dropped (cost ``-log p(not a character)``). The ``k`` best paths the format
accepts are then tried against the check character in order, because a check cannot be expressed
in an automaton of useful size. Nothing accepted is a no-read with the reason, never a forced
string: on a production line a misread ships a wrong part, a no-read stops for a look.

The same decoder serves engines that return only a string: each character becomes a box whose
alternatives are itself and its look-alikes (:data:`CONFUSABLE`), at costs instead of
probabilities, so every engine is corrected by one rule. A string engine that also gives each
character's alternatives with probabilities (Tesseract's choices) is corrected by those instead
(:func:`choice_costs`).
"""

from __future__ import annotations

import math
import string
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ocr2stage.formats import Automaton, Format

Alternatives = tuple[tuple[str, float], ...]
"""One box's readings: ``(character, probability)``, ``""`` for "not a character"."""
SYMBOLS = string.digits + string.ascii_uppercase + "-./:"
"""Characters a box may be read as (the classifier's charset); others found in a lattice are added."""
DROP_FLOOR = 1e-6
"""Probability of dropping a box whose lattice has no ``""``: unlikely, never impossible (a mark
read as a confident character that is not part of the code). A character a lattice does not
list is impossible: forcing it in would be a guess, and a guess is what a no-read avoids."""
K_BEST = 8
BEAM = 20.0
"""Paths more than this (in -log probability: a factor of 5e8) behind the best path so far are
given up. Without it a two-line format (two broad formats one after the other, hundreds of
states) kept every state alive and cost ~10x the time; a path that far behind would need three
or more readings the classifier put near its lattice's floor of 1e-3 to win."""

CONFUSABLE: dict[tuple[str, str], float] = {}
"""Cost of reading one character as a look-alike, both ways, for string-only engines: shapes
that worn, etched and dot-matrix marks make alike (cost 1) and pairs that need more damage (1.5)."""
for _group, _cost in (
    ("O0DQ", 1.0),
    ("I1L", 1.0),
    ("S5", 1.0),
    ("B8", 1.0),
    ("Z2", 1.0),
    ("G6", 1.0),
    ("A4", 1.5),
    ("T7", 1.5),
):
    for _a in _group:
        for _b in _group:
            if _a != _b:
                CONFUSABLE[(_a, _b)] = _cost
DROP_COST = 2.0
"""Cost of dropping a character a string-only engine read (an extra mark, a doubled separator)."""
CHOICE_MIN = 0.01
"""A string engine's alternative less probable than this is not used (the two-stage lattice keeps
readings of at least 1e-3 likewise): the decoder accepts the cheapest path the format allows
however dear, so a far-fetched alternative turns a no-read into a guess. Chosen on generated dev
sets (seed 7, Tesseract): 0.01 reads more right and misreads less than the look-alike rule on
codes and on containers, with the fewest misreads of the floors that do (docs/RESULTS.md)."""


@dataclass(frozen=True)
class Decoded:
    """A constrained reading: ``text`` or None (a no-read, ``reason`` says why). ``cost`` is the
    path's ``-log`` probability (or edit cost); ``free_cost`` the best path without a format, so
    ``cost - free_cost`` is what the format cost the reading. ``candidates``: the k best strings
    the format accepts, best first, before the check."""

    text: str | None
    reason: str | None
    cost: float
    free_cost: float
    candidates: tuple[str, ...] = ()


def lattice_costs(lattice: Sequence[Alternatives], symbols: str = SYMBOLS) -> tuple[np.ndarray, str]:
    """``(costs, symbols)``: ``costs[i, j] = -log p(box i is symbols[j])``, last column the cost of
    dropping box i. A space counts as dropping (whitespace is layout)."""
    extra = "".join(sorted({c for alts in lattice for c, _ in alts if c and not c.isspace()} - set(symbols)))
    symbols += extra
    col = {c: j for j, c in enumerate(symbols)}
    probs = np.zeros((len(lattice), len(symbols) + 1))
    for i, alts in enumerate(lattice):
        drop = 0.0
        for c, p in alts:
            if not c or c.isspace():
                drop += p
            else:
                probs[i, col[c]] = p
        probs[i, -1] = max(drop, DROP_FLOOR)
    with np.errstate(divide="ignore"):
        return -np.log(probs), symbols


def string_costs(text: str, symbols: str = SYMBOLS) -> tuple[np.ndarray, str]:
    """A string-only engine's reading as costs: each character itself (0), a look-alike
    (:data:`CONFUSABLE`) or dropped (:data:`DROP_COST`); whitespace is left out."""
    chars = [c for c in text if not c.isspace()]
    symbols += "".join(sorted(set(chars) - set(symbols)))
    costs = np.full((len(chars), len(symbols) + 1), np.inf)
    for i, c in enumerate(chars):
        for j, s in enumerate(symbols):
            costs[i, j] = 0.0 if s == c else CONFUSABLE.get((c, s), np.inf)
        costs[i, -1] = DROP_COST
    return costs, symbols


def choice_costs(choices: Sequence[Alternatives], symbols: str = SYMBOLS) -> tuple[np.ndarray, str]:
    """A string engine's reading with each character's alternatives (the character read first, its
    own probability included) as costs: ``-log p`` of the character read and of every alternative of
    at least :data:`CHOICE_MIN`, any other character impossible, dropping at :data:`DROP_COST` as for
    every string engine (Tesseract states no probability of "not a character"). No look-alike edit:
    on the dev sets the engine's own alternatives did better alone than with the table."""
    kept = [alts[:1] + tuple(a for a in alts[1:] if a[1] >= CHOICE_MIN) for alts in choices]
    costs, symbols = lattice_costs(kept, symbols)
    costs[:, -1] = DROP_COST
    return costs, symbols


def k_best(costs: np.ndarray, aut: Automaton, k: int = K_BEST, beam: float = BEAM) -> list[tuple[float, str]]:
    """The ``k`` cheapest paths through the boxes that end in a final state, as (cost, string),
    cheapest first (two paths may spell the same string: dropping one box or another).

    Vectorised over states, ranks and symbols per box: about 0.1 ms a box for a serial's
    automaton, so the decoder stays a small part of a read (measured in tests/test_formats.py).
    """
    state, cost = np.array([aut.initial]), np.array([0.0])  # the live paths, sorted by state then cost
    steps: list[tuple[np.ndarray, np.ndarray]] = []  # per box: each path's previous path and symbol
    for row in costs:
        if not np.isfinite(row[:-1]).any():  # a box that is surely no character: every path drops it
            cost = cost + row[-1]
            steps.append((np.arange(len(state)), np.full(len(state), -1)))
            continue
        alive = np.zeros(aut.n_states, dtype=bool)
        alive[state] = True
        e = aut.edges_reading(np.nonzero(np.isfinite(row[:-1]))[0])
        e = e[alive[aut.src[e]]]
        left = np.searchsorted(state, aut.src[e], side="left")
        count = np.searchsorted(state, aut.src[e], side="right") - left
        edge = np.repeat(e, count)
        prev = np.repeat(left, count) + np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        drop = np.arange(len(state)) if np.isfinite(row[-1]) else np.zeros(0, dtype=np.int64)
        prev = np.concatenate([prev, drop])
        to = np.concatenate([aut.dst[edge], state[drop]])
        sym = np.concatenate([aut.sym[edge], np.full(len(drop), -1)])
        total = cost[prev] + np.concatenate([row[aut.sym[edge]], np.full(len(drop), row[-1])])
        order = np.lexsort((total, to))
        rank = np.arange(len(order)) - np.searchsorted(to[order], to[order], side="left")
        keep = order[rank < k]
        keep = keep[total[keep] <= total[keep].min() + beam] if len(keep) else keep
        state, cost = to[keep], total[keep]
        steps.append((prev[keep], sym[keep]))
    ends = np.nonzero(aut.final[state])[0]
    out = []
    for j in ends[np.argsort(cost[ends], kind="stable")][:k]:
        chars, path = [], int(j)
        for prev, sym in reversed(steps):
            if sym[path] >= 0:
                chars.append(aut.symbols[sym[path]])
            path = int(prev[path])
        out.append((float(cost[j]), "".join(reversed(chars))))
    return out


def decode(costs: np.ndarray, symbols: str, fmt: Format, k: int = K_BEST) -> Decoded:
    """The cheapest string ``fmt`` accepts (its check included) among the ``k`` best paths, or a
    no-read with the reason. Without a check the best path is the answer, so only it is sought
    (``k`` paths cost ``k`` times the work)."""
    free = float(costs.min(axis=1).sum()) if len(costs) else 0.0
    paths = k_best(costs, fmt.automaton(symbols), k if fmt.check else 1)
    candidates = tuple(dict.fromkeys(s for _, s in paths))
    if not candidates:
        return Decoded(None, "no candidate fits the format", math.inf, free)
    for cost, text in paths:
        if fmt.reason(text) is None:
            return Decoded(text, None, cost, free, candidates)
    return Decoded(
        None, f"{fmt.check} check fails on the {len(candidates)} best candidates", paths[0][0], free, candidates
    )


def decode_lattice(lattice: Sequence[Alternatives], fmt: Format, k: int = K_BEST) -> Decoded:
    """:func:`decode` over boxes with class probabilities (the two-stage reader's lines)."""
    costs, symbols = lattice_costs(lattice)
    return decode(costs, symbols, fmt, k)


def decode_string(text: str, fmt: Format, k: int = K_BEST) -> Decoded:
    """:func:`decode` over a string-only engine's reading: the cheapest look-alike edit into ``fmt``."""
    costs, symbols = string_costs(text)
    return decode(costs, symbols, fmt, k)


def decode_choices(choices: Sequence[Alternatives], fmt: Format, k: int = K_BEST) -> Decoded:
    """:func:`decode` over a string engine's reading with its characters' alternatives (:func:`choice_costs`)."""
    costs, symbols = choice_costs(choices)
    return decode(costs, symbols, fmt, k)
