"""The CI regression gate: compare a run folder with a baseline and exit 0, 1 or 2.

Like pytest-benchmark's compare-and-fail: a stored result, an explicit comparison, an exit code
CI understands. 0 = no regression, 1 = a regression larger than noise, 2 = cannot judge (an
engine or file missing, another dataset, an engine that failed to load). It fails closed:
whatever cannot be compared is an error, never a pass.

Why paired tests: a model update flips a few images either way; only a drop that is both larger
than its threshold and unlikely under "the two runs are equally good" (exact McNemar on the
images whose outcome changed) is a regression. See docs/ci-gate.md.
"""

from __future__ import annotations

import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench.baseline import BaselineError, load_baseline, save_baseline, snapshot
from bench.metrics.risk import halves, held_out_accepted, outcomes
from bench.metrics.significance import mcnemar_exact, mean_ci

__all__ = ["Check", "GateConfig", "GateConfigError", "evaluate", "load_config", "run_gate", "save_baseline"]

Status = Literal["pass", "fail", "skip", "error"]
EXIT = {"pass": 0, "fail": 1, "error": 2}
VERDICT = {0: "pass", 1: "regression", 2: "cannot judge"}
LABEL: dict[Status, str] = {"pass": "PASS", "fail": "FAIL", "skip": "skip", "error": "CANNOT JUDGE"}
NOISE_RULE = (
    "An accuracy drop fails only when it is larger than its threshold AND the exact McNemar test on the "
    "images whose outcome changed gives p < alpha (per slice: alpha divided by the number of slices "
    "checked), so a few images flipping either way never fail a build. A CER rise fails only when larger "
    "than its threshold and its paired bootstrap interval lies above zero. Latency is a ratio to a "
    "reference engine timed in the same run, never absolute milliseconds. A read rate at a misread limit "
    "(thresholds cross-fitted on two halves of the images) is judged like accuracy, on the images "
    "accepted in one run and not the other."
)


@dataclass(frozen=True)
class GateConfig:
    """Thresholds; every key may be set in a TOML file (see docs/ci-gate.md for the why of each)."""

    alpha: float = 0.05
    engines: tuple[str, ...] = ()
    """Engines to gate; empty means every engine in the baseline."""
    max_accuracy_drop_pp: float = 1.0
    max_slice_accuracy_drop_pp: float = 5.0
    min_slice_images: int = 20
    """Smaller slices are reported as skipped: too few images to show anything but noise."""
    max_cer_rise_pp: float = 0.5
    read_rate_at_misread: float = 0.0
    """Hold the read rate at this misread limit (0.01: at <= 1% misreads); 0 turns the rule off."""
    max_read_rate_drop_pp: float = 1.0
    latency_reference: str = "easyocr"
    """Engine whose latency, in the same run, every other engine's is divided by; "" turns latency off."""
    latency_stat: str = "p50_ms"
    max_latency_ratio: float = 3.0
    """Fail when (engine / reference) in the run exceeds this multiple of (engine / reference) in the baseline.

    Generous because the runner times engines one after another: on a shared machine the load can
    change between the two, and the ratio moved by x2.2 with no change to either engine."""


class GateConfigError(ValueError):
    """The gate config file is missing, not TOML, or has unknown keys or wrongly typed values."""


@dataclass(frozen=True)
class Check:
    """One judged comparison: a row of the summaries and one JUnit test case."""

    engine: str
    name: str
    status: Status
    detail: str


def load_config(path: Path | None) -> GateConfig:
    """The defaults, overridden by the top-level keys of a TOML file when ``path`` is given."""
    if path is None:
        return GateConfig()
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise GateConfigError(f"gate config {path}: {e}") from e
    defaults = {f.name: getattr(GateConfig(), f.name) for f in fields(GateConfig)}
    unknown = sorted(set(data) - set(defaults))
    if unknown:
        raise GateConfigError(f"gate config {path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(defaults)}")
    values: dict[str, Any] = {}
    for key, value in data.items():
        default = defaults[key]
        if isinstance(default, tuple) and isinstance(value, list) and all(isinstance(v, str) for v in value):
            values[key] = tuple(value)
        elif isinstance(default, float) and isinstance(value, (int, float)) and not isinstance(value, bool):
            values[key] = float(value)
        elif type(value) is type(default) and not isinstance(default, tuple):
            values[key] = value
        else:
            raise GateConfigError(f"gate config {path}: {key} = {value!r} should be like {default!r}")
    return GateConfig(**values)


def _accuracy(
    engine: str,
    name: str,
    files: list[str],
    base: dict[str, list[int]],
    run: dict[str, list[int]],
    max_drop_pp: float,
    alpha: float,
) -> Check:
    """Paired accuracy check: drop beyond ``max_drop_pp`` and McNemar p < ``alpha`` fails."""
    a = [base[f][0] for f in files]
    b = [run[f][0] for f in files]
    test = mcnemar_exact(a, b)
    before, after = 100 * sum(a) / len(a), 100 * sum(b) / len(b)
    drop = before - after
    text = (
        f"{before:.1f}% -> {after:.1f}% ({after - before:+.1f} pp on {len(files)} images; "
        f"{test.only_a} lost, {test.only_b} gained; McNemar p={test.p_value:.2g})"
    )
    if drop > max_drop_pp and test.p_value < alpha:
        return Check(engine, name, "fail", f"{text}: drop > {max_drop_pp:g} pp and p < {alpha:.2g}")
    if drop > max_drop_pp:
        return Check(engine, name, "pass", f"{text}: drop > {max_drop_pp:g} pp but within noise (p >= {alpha:.2g})")
    return Check(engine, name, "pass", text)


def _cer(
    engine: str,
    files: list[str],
    chars: dict[str, int],
    base: dict[str, list[int]],
    run: dict[str, list[int]],
    cfg: GateConfig,
) -> Check:
    """Paired CER check: rise beyond the threshold and a bootstrap interval above zero fails."""
    total = sum(chars[f] for f in files)
    before = 100 * sum(base[f][1] for f in files) / total
    after = 100 * sum(run[f][1] for f in files) / total
    ci = mean_ci([run[f][1] - base[f][1] for f in files], [chars[f] for f in files], confidence=1 - cfg.alpha)
    text = (
        f"{before:.2f}% -> {after:.2f}% ({after - before:+.2f} pp; {100 * (1 - cfg.alpha):.0f}% paired interval "
        f"{100 * ci.low:+.2f}..{100 * ci.high:+.2f} pp)"
    )
    if after - before > cfg.max_cer_rise_pp and ci.low > 0:
        return Check(engine, "cer", "fail", f"{text}: rise > {cfg.max_cer_rise_pp:g} pp and above noise")
    if after - before > cfg.max_cer_rise_pp:
        return Check(engine, "cer", "pass", f"{text}: rise > {cfg.max_cer_rise_pp:g} pp but within noise")
    return Check(engine, "cer", "pass", text)


def _operating_point(
    engine: str, files: list[str], base: dict[str, list[Any]], run: dict[str, list[Any]], cfg: GateConfig
) -> Check:
    """Read rate at ``cfg.read_rate_at_misread`` misreads, paired like accuracy: per image, whether its
    code is accepted at the threshold chosen on the other half of the images, in each run."""
    limit = cfg.read_rate_at_misread
    name = f"read rate at <= {100 * limit:g}% misreads"
    short = [label for label, o in (("baseline", base), ("run", run)) if any(len(o[f]) < 3 for f in files)]
    if short:
        return Check(
            engine,
            name,
            "error",
            f"cannot judge: the {' and '.join(short)} has no code confidences "
            "(saved before they were kept): save the baseline again, or `bench summarize-run` the run",
        )
    first = halves(files)
    accepted = {}
    for label, o in (("baseline", base), ("run", run)):
        conf = np.array([np.nan if o[f][2] is None else o[f][2] for f in files], dtype=float)
        outcome = outcomes([o[f][0] for f in files], [o[f][2] is not None for f in files])
        held = held_out_accepted(outcome, conf, first, limit)
        accepted[label] = {f: [int(a)] for f, a in zip(files, held)}
    return _accuracy(engine, name, files, accepted["baseline"], accepted["run"], cfg.max_read_rate_drop_pp, cfg.alpha)


def _latency_ratio(snap: dict[str, Any], engine: str, cfg: GateConfig) -> float | None:
    stats = [
        ((snap["engines"].get(e) or {}).get("metrics") or {}).get(cfg.latency_stat)
        for e in (engine, cfg.latency_reference)
    ]
    return None if None in stats or not stats[1] else stats[0] / stats[1]


def _latency(engine: str, base: dict[str, Any], run: dict[str, Any], cfg: GateConfig) -> Check:
    """Latency relative to the reference engine of the same run, against the same ratio in the baseline."""
    ref, name = cfg.latency_reference, f"latency ({cfg.latency_stat} / {cfg.latency_reference})"
    ratios = {label: _latency_ratio(snap, engine, cfg) for label, snap in (("baseline", base), ("run", run))}
    missing = [label for label, r in ratios.items() if r is None]
    before, after = ratios["baseline"], ratios["run"]
    if before is None or after is None:
        return Check(
            engine,
            name,
            "error",
            f"cannot judge latency: no {cfg.latency_stat} of {engine} and of the "
            f'reference {ref} in the {" and ".join(missing)} (set latency_reference = "" to turn latency off)',
        )
    growth = after / before
    text = f"{before:.2f} -> {after:.2f} x {ref} (x{growth:.2f} of baseline, limit x{cfg.max_latency_ratio:g})"
    return Check(engine, name, "fail" if growth > cfg.max_latency_ratio else "pass", text)


def _model_change(base: dict[str, Any], run: dict[str, Any]) -> str:
    """Which weight files or package versions differ: says what the comparison is about."""
    changes = []
    for part in ("weights", "versions"):
        old, new = (base.get("info") or {}).get(part, {}), (run.get("info") or {}).get(part, {})
        changes += [
            f"{k} {old.get(k, '-')[:19]} -> {new.get(k, '-')[:19]}"
            for k in sorted(old | new)
            if old.get(k) != new.get(k)
        ]
    return "; ".join(changes) or "same weights and versions as the baseline"


def _dataset(base: dict[str, Any], run: dict[str, Any]) -> Check:
    bd, rd = base["dataset"], run["dataset"]
    problems = []
    if not bd["images"]:
        problems.append("the baseline holds no image")
    if bd["fingerprint"] != rd["fingerprint"]:
        problems.append(
            f"dataset fingerprint differs (baseline {bd['fingerprint'][:19]}, run {rd['fingerprint'][:19]})"
        )
    if len(rd["images"]) != rd["n"]:
        problems.append(f"the run is incomplete: {len(rd['images'])} of its {rd['n']} images have results")
    elif set(bd["images"]) != set(rd["images"]):
        problems.append(
            f"run covers {len(rd['images'])} images, baseline {len(bd['images'])} "
            f"(--limit {rd['limit']} vs {bd['limit']})"
        )
    if base["scoring"] != run["scoring"]:
        problems.append(f"scoring differs (baseline {base['scoring']}, run {run['scoring']})")
    if problems:
        return Check("", "dataset", "error", "; ".join(problems))
    return Check(
        "", "dataset", "pass", f"{bd['name']}: same fingerprint, same {len(bd['images'])} images, same scoring"
    )


def _engine(name: str, base: dict[str, Any], run: dict[str, Any], cfg: GateConfig) -> list[Check]:
    """One engine's checks; an engine that cannot be compared gets one cannot-judge check, nothing more."""
    images = base["dataset"]["images"]
    b, r = base["engines"].get(name), run["engines"].get(name)
    if b is None:
        return [Check(name, "present", "error", "not in the baseline")]
    if r is None:
        return [Check(name, "present", "error", "not in the run")]
    if r["error"]:
        return [Check(name, "present", "error", f"failed to load in the run: {r['error']}")]
    for label, e in (("baseline", b), ("run", r)):
        if set(e["outcomes"]) != set(images):
            return [
                Check(
                    name,
                    "present",
                    "error",
                    f"the {label} has results for {len(e['outcomes'])} of {len(images)} images",
                )
            ]
    files = sorted(images)
    checks = [
        Check(name, "present", "pass", _model_change(b, r)),
        _accuracy(name, "accuracy", files, b["outcomes"], r["outcomes"], cfg.max_accuracy_drop_pp, cfg.alpha),
        _cer(name, files, images, b["outcomes"], r["outcomes"], cfg),
    ]
    if cfg.read_rate_at_misread > 0:
        checks.append(_operating_point(name, files, b["outcomes"], r["outcomes"], cfg))
    slices = [
        (f"{col}={value}", members)
        for col, values in run["dataset"]["slices"].items()
        for value, members in values.items()
    ]
    judged = [(label, m) for label, m in slices if len(m) >= cfg.min_slice_images]
    checks += [
        _accuracy(
            name,
            f"accuracy [{label}]",
            members,
            b["outcomes"],
            r["outcomes"],
            cfg.max_slice_accuracy_drop_pp,
            cfg.alpha / len(judged),
        )
        for label, members in judged
    ]
    small = [f"{label} ({len(m)})" for label, m in slices if len(m) < cfg.min_slice_images]
    if small:
        checks.append(
            Check(
                name,
                "accuracy [small slices]",
                "skip",
                f"{len(small)} slices with fewer than "
                f"min_slice_images = {cfg.min_slice_images} images: {', '.join(small)}",
            )
        )
    if cfg.latency_reference and name != cfg.latency_reference:
        checks.append(_latency(name, base, run, cfg))
    return checks


def evaluate(run: dict[str, Any], base: dict[str, Any], cfg: GateConfig) -> list[Check]:
    """Every check of ``run`` (from :func:`snapshot`, which carries the slice membership) against
    ``base`` (from :func:`load_baseline`); nothing is judged on another dataset."""
    dataset = _dataset(base, run)
    if dataset.status == "error":
        return [dataset]
    names = list(cfg.engines or base["engines"])
    if not names:  # a baseline edited to "engines": {} must not pass
        return [
            dataset,
            Check("", "engines", "error", "nothing to judge: the baseline holds no engine and the config names none"),
        ]
    checks = [dataset]
    for name in names:
        checks += _engine(name, base, run, cfg)
    return checks


def exit_code(checks: list[Check]) -> int:
    """1 if anything regressed, else 2 if anything could not be judged, else 0."""
    codes = {EXIT[c.status] for c in checks if c.status != "skip"}
    return 1 if 1 in codes else 2 if 2 in codes or not checks else 0


def _case(c: Check) -> str:
    return f"{c.engine}: {c.name}" if c.engine else c.name


def print_console(checks: list[Check], code: int, console: Console) -> None:
    table = Table(title=f"regression gate: {VERDICT[code]} (exit {code})")
    table.add_column("check", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("detail")
    style = {"pass": "green", "fail": "bold red", "skip": "dim", "error": "bold yellow"}
    for c in checks:
        table.add_row(escape(_case(c)), f"[{style[c.status]}]{LABEL[c.status]}[/]", escape(c.detail))
    console.print(table)
    console.print(f"[dim]{NOISE_RULE}[/dim]")


def _cell(text: str) -> str:
    """A markdown table cell: one line (engine errors may span several), pipes escaped."""
    return " ".join(text.split()).replace("|", r"\|")


def markdown_summary(checks: list[Check], code: int, run_dir: Path, baseline: Path) -> str:
    """A PR comment / job summary: the verdict, what failed, then every check folded away."""
    icon = {0: "✅", 1: "❌", 2: "⚠️"}[code]

    def rows(cs: list[Check]) -> list[str]:
        return [f"| {_cell(_case(c))} | {LABEL[c.status]} | {_cell(c.detail)} |" for c in cs]

    head = ["| check | result | detail |", "| --- | --- | --- |"]
    bad = [c for c in checks if c.status in ("fail", "error")]
    lines = [
        f"## {icon} OCR regression gate: {VERDICT[code]} (exit {code})",
        "",
        f"Run `{run_dir}` against baseline `{baseline}`.",
        "",
    ]
    if bad:
        lines += [*head, *rows(bad), ""]
    lines += [
        "<details><summary>All checks</summary>",
        "",
        *head,
        *rows(checks),
        "",
        "</details>",
        "",
        f"_{NOISE_RULE}_",
        "",
    ]
    return "\n".join(lines)


def junit_xml(checks: list[Check]) -> ET.ElementTree:
    """JUnit XML with one test case per check: failures for regressions, errors for cannot-judge."""
    count = {s: sum(c.status == s for c in checks) for s in ("fail", "error", "skip")}
    suites = ET.Element("testsuites")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name="bench-gate",
        tests=str(len(checks)),
        failures=str(count["fail"]),
        errors=str(count["error"]),
        skipped=str(count["skip"]),
    )
    tag = {"fail": "failure", "error": "error", "skip": "skipped"}
    for c in checks:
        case = ET.SubElement(suite, "testcase", classname=f"bench.gate.{c.engine or 'run'}", name=c.name)
        if c.status in tag:
            ET.SubElement(case, tag[c.status], message=c.detail)
        else:
            ET.SubElement(case, "system-out").text = c.detail
    return ET.ElementTree(suites)


def run_gate(
    run_dir: Path, baseline: Path, config: Path | None = None, junit: Path | None = None, markdown: Path | None = None
) -> int:
    """Compare a finished run folder with a baseline file; print the checks and return the exit code.

    0 = pass, 1 = regression beyond noise, 2 = cannot judge. ``config`` is a TOML file of
    :class:`GateConfig` keys (defaults otherwise); ``junit`` and ``markdown`` are written when given,
    also when the inputs cannot be read, so CI always has something to show.
    """
    try:
        checks = evaluate(snapshot(Path(run_dir)), load_baseline(Path(baseline)), load_config(config))
    except (BaselineError, GateConfigError) as e:
        checks = [Check("", "inputs", "error", str(e))]
    except (KeyError, TypeError, ValueError) as e:  # a hand-edited or truncated file: fail closed, not exit 1
        checks = [Check("", "inputs", "error", f"malformed run folder or baseline ({e.__class__.__name__}: {e})")]
    code = exit_code(checks)
    print_console(checks, code, Console())
    if junit is not None:
        junit_xml(checks).write(junit, encoding="utf-8", xml_declaration=True)
    if markdown is not None:
        Path(markdown).write_text(markdown_summary(checks, code, Path(run_dir), Path(baseline)), encoding="utf-8")
    return code
