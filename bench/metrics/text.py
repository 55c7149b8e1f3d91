"""String-level metrics from one alignment (rapidfuzz edit operations), like jiwer's."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Literal

import pandas as pd
from rapidfuzz.distance import Levenshtein

Op = Literal["equal", "replace", "delete", "insert"]
FAILURES = ("correct", "no_text", "missing_chars", "extra_chars", "substitutions", "mixed")


def align(truth: str, pred: str) -> list[tuple[Op, str, str]]:
    """Character alignment: (op, truth_char, pred_char) with "" for the absent side.

    A ``replace`` run of unequal lengths is split into pairwise substitutions plus the rest as
    deletions or insertions, so every entry is one character on at least one side.
    """
    out: list[tuple[Op, str, str]] = []
    for op in Levenshtein.opcodes(truth, pred):
        t, p = truth[op.src_start : op.src_end], pred[op.dest_start : op.dest_end]
        if op.tag == "equal":
            out += [("equal", a, a) for a in t]
        elif op.tag == "delete":
            out += [("delete", a, "") for a in t]
        elif op.tag == "insert":
            out += [("insert", "", b) for b in p]
        else:
            n = min(len(t), len(p))
            out += [("replace", a, b) for a, b in zip(t[:n], p[:n])]
            out += [("delete", a, "") for a in t[n:]] + [("insert", "", b) for b in p[n:]]
    return out


def edit_counts(truth: str, pred: str) -> dict[str, int]:
    """Substitutions, deletions, insertions and hits of the minimal alignment."""
    c = Counter(op for op, _, _ in align(truth, pred))
    return {"sub": c["replace"], "del": c["delete"], "ins": c["insert"], "hit": c["equal"]}


def cer(truth: str, pred: str) -> float:
    """Edit distance / truth length (can exceed 1 with many insertions); 0 for two empty strings."""
    if not truth:
        return 0.0 if not pred else 1.0
    return Levenshtein.distance(truth, pred) / len(truth)


def failure_class(truth: str, pred: str) -> str:
    """What kind of miss a reading is, at the string level (one of FAILURES)."""
    if truth == pred:
        return "correct"
    if not pred:
        return "no_text"
    e = edit_counts(truth, pred)
    kinds = tuple(k for k in ("del", "ins", "sub") if e[k])
    single: dict[tuple[str, ...], str] = {("del",): "missing_chars", ("ins",): "extra_chars", ("sub",): "substitutions"}
    return single.get(kinds, "mixed")


def char_error_table(pairs: Iterable[tuple[str, str]]) -> pd.DataFrame:
    """Per truth character: count, substitutions (and to what), deletions, error rate.

    Insertions belong to no truth character; they are in the ``<ins>`` row.
    """
    count: Counter[str] = Counter()
    subs: dict[str, Counter[str]] = {}
    dels: Counter[str] = Counter()
    ins = 0
    for truth, pred in pairs:
        for op, t, p in align(truth, pred):
            if t:
                count[t] += 1
            if op == "replace":
                subs.setdefault(t, Counter())[p] += 1
            elif op == "delete":
                dels[t] += 1
            elif op == "insert":
                ins += 1
    rows = [
        {
            "char": ch,
            "count": n,
            "substitutions": sum(subs.get(ch, Counter()).values()),
            "deletions": dels[ch],
            "error_rate": (sum(subs.get(ch, Counter()).values()) + dels[ch]) / n,
            "substituted_by": dict(subs.get(ch, Counter()).most_common(3)),
        }
        for ch, n in sorted(count.items())
    ]
    rows.append(
        {
            "char": "<ins>",
            "count": 0,
            "substitutions": 0,
            "deletions": 0,
            "error_rate": float("nan"),
            "substituted_by": {},
            "insertions": ins,
        }
    )
    table = pd.DataFrame(rows)
    table["insertions"] = table["insertions"].fillna(0).astype(int)
    return table


def confusion_pairs(pairs: Iterable[tuple[str, str]], top: int = 20) -> pd.DataFrame:
    """The most frequent substitutions as (truth, pred, count), most frequent first."""
    c: Counter[tuple[str, str]] = Counter()
    for truth, pred in pairs:
        c.update((t, p) for op, t, p in align(truth, pred) if op == "replace")
    return pd.DataFrame([(t, p, n) for (t, p), n in c.most_common(top)], columns=["truth", "pred", "count"])
