"""The ``bench`` command line (typer + rich)."""

from __future__ import annotations

import shlex
import sys
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from bench.datasets import Dataset, DatasetError, list_datasets, load_dataset, write_fingerprint
from bench.engines import DEFAULT_ENGINES, UnknownEngine, availability, engine_class, engine_names, engine_options
from bench.engines.base import EngineUnavailable
from bench.formats import FormatError, cli_formats
from bench.readout import READOUTS
from bench.report.fmt import ms as _ms
from bench.report.fmt import pct as _pct
from bench.results import summarize
from bench.runner import RunError, RunOptions, default_run_dir
from bench.runner import run as run_engines

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Benchmark OCR engines on labelled code images: two-stage vs CRNN recognisers.",
)
datasets_app = typer.Typer(help="List datasets, or generate a synthetic one.")
models_app = typer.Typer(help="Model weights that do not come with a package.")
baseline_app = typer.Typer(help="Stored results that CI gates compare against.")
app.add_typer(datasets_app, name="datasets")
app.add_typer(models_app, name="models")
app.add_typer(baseline_app, name="baseline")
console = Console(stderr=True)
out = Console()


def _fail(message: str, code: int = 2) -> NoReturn:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


LATENCY_PEER = "easyocr"
"""Latency is shown as a ratio to this engine, timed in the same run on the same images."""


def print_summary(summary: dict[str, Any]) -> None:
    """One row per engine, never cut: at 80 columns rich cut ``two-stage`` and ``two-stage-int8``
    alike to ``two-s…``. The table is printed at its full width even where the terminal is
    narrower (or is none), and an engine's load error goes below it, where it may wrap."""
    table = Table(title=f"{summary['run']['dataset']['name']}: {summary['run']['dataset']['n']} images")
    for col in ("engine", "seq. accuracy", "CER", "p50", "p95", f"p50 / {LATENCY_PEER}", "load", "errors"):
        table.add_column(col, no_wrap=True)
    peer = ((summary["engines"].get(LATENCY_PEER) or {}).get("metrics") or {}).get("p50_ms")
    for name, e in summary["engines"].items():
        m = e["metrics"] or {}
        ratio = f"{m['p50_ms'] / peer:.2f}x" if peer and m.get("p50_ms") else "n/a"
        table.add_row(
            escape(name),
            _pct(m.get("sequence_accuracy")),
            _pct(m.get("cer")),
            _ms(m.get("p50_ms")),
            _ms(m.get("p95_ms")),
            ratio,
            "n/a" if e["load_s"] is None else f"{e['load_s']:.1f} s",
            str(m.get("n_errors", "")),
        )
    width = out.width
    out.width = max(width, Measurement.get(out, out.options.update_width(10_000), table).maximum)
    try:
        out.print(table)
    finally:
        out.width = width
    for name, e in summary["engines"].items():
        if e["error"]:
            out.print(f"{escape(name)}: {escape(e['error'])}")


def _check_engines(names: list[str]) -> None:
    """Exit 2 before any work when there is no engine, one is named twice, or one cannot even be
    imported (unknown name, ``module:Class`` that does not exist). An engine whose package or
    weights are missing imports fine and is recorded as failed to load, in its own column."""
    if not names:
        _fail("no engine to run: --engines is empty")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        _fail(f"engine(s) named more than once: {', '.join(twice)}")
    for name in names:
        try:
            engine_class(name)
        except (UnknownEngine, EngineUnavailable) as e:
            _fail(str(e))


@app.command()
def run(
    dataset: Annotated[str, typer.Option(help="Dataset name under datasets/ or a dataset folder.")] = "serials",
    engines: Annotated[str, typer.Option(help="Comma-separated engine names.")] = ",".join(DEFAULT_ENGINES),
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N images.")] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Run folder (default reports/<dataset>-<time>).")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Continue the run in --out (or the latest run of this dataset).")
    ] = False,
    device: Annotated[str, typer.Option(help="cpu, cuda or cuda:N.")] = "cpu",
    readout: Annotated[
        str | None, typer.Option(help=f"Override the manifest's readout: {', '.join(READOUTS)}.")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds one image may take before its engine is restarted.")] = 120.0,
    report: Annotated[bool, typer.Option(help="Write report.html at the end.")] = True,
    gate: Annotated[
        Path | None, typer.Option(help="Gate the run against this baseline (exit 1 on regression).")
    ] = None,
    engine_option: Annotated[
        list[str] | None,
        typer.Option(
            "--engine-option",
            help="ENGINE.KEY=VALUE for an engine's constructor, repeatable; e.g. "
            "two-stage.classifier=my.pt reads with your fine-tuned classifier.",
        ),
    ] = None,
    keep_errors: Annotated[
        bool,
        typer.Option(
            help="With --resume: keep results that are errors (timeouts, crashes) instead of reading those "
            "images again."
        ),
    ] = False,
    code_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="Format every code must fit, instead of the manifest's: a field string "
            "(A letter, N digit, X either, C check character, [UJZ] one of) or ^regex.",
        ),
    ] = None,
    check: Annotated[
        str | None,
        typer.Option(
            help="Check character of --format: iso6346, luhn, gs1_mod10, iso7064_mod37_36, iso7064_mod11_10, "
            "vin, or one registered in the entry-point group ocr2stage.checks."
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1, help="Worker processes (with --cluster: Ray actors) per engine; the images are spread over them."
        ),
    ] = 1,
    batch: Annotated[
        int | None,
        typer.Option(min=1, help="Throughput mode: B images per engine call; per-image latency is then not measured."),
    ] = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            help="Run the engines as Ray actors: local (a Ray started for the run), auto (a running cluster) or "
            "ray://HOST:PORT. Needs the extra: pip install 'ocr2stage-bench[ray]'. See docs/scaling.md."
        ),
    ] = None,
    engine_resources: Annotated[
        list[str] | None,
        typer.Option(
            "--engine-resources",
            help="With --cluster: resources of each actor of an engine, repeatable; "
            "e.g. two-stage=cpu:1,gpu:0.25 (default cpu:1).",
        ),
    ] = None,
    shared_images: Annotated[
        bool,
        typer.Option(
            help="With --cluster: actors read the images from the dataset's path, which every node must see, "
            "instead of getting their bytes from this process."
        ),
    ] = False,
) -> None:
    """Run engines over a dataset; writes predictions, results, summary.json and report.html."""
    names = [e.strip() for e in engines.split(",") if e.strip()]
    _check_engines(names)
    try:
        formats = cli_formats(code_format, check)
    except FormatError as e:
        _fail(str(e))
    try:
        options = engine_options(engine_option or [], names)
    except (ValueError, EngineUnavailable) as e:
        _fail(str(e))
    if readout and readout not in READOUTS:
        _fail(f"unknown readout {readout!r}; choose one of {', '.join(READOUTS)}")
    if device != "cpu" and not device.startswith("cuda"):
        _fail(f"unknown device {device!r}; use cpu, cuda or cuda:N")
    run_on = run_engines
    if cluster is not None or engine_resources or shared_images:
        from bench import cluster as ray_cluster

        if cluster is None:
            _fail("--engine-resources and --shared-images go with --cluster")
        try:
            spec = ray_cluster.cluster_spec(cluster, names, engine_resources or [], shared_images)
        except RunError as e:
            _fail(escape(str(e)))  # the message names the extra [ray], which is no markup
        run_on = partial(ray_cluster.run, spec=spec)
    try:
        opts = RunOptions(
            engines=tuple(names),
            device=device,
            limit=limit,
            timeout_s=timeout,
            readout=readout,
            engine_options=options,
            command=shlex.join(["bench", *sys.argv[1:]]),
            extra={"formats": formats} if formats else {},
            workers=workers,
            batch=batch,
            cluster=cluster,
        )
    except RunError as e:
        _fail(str(e))
    ds = _open_dataset(dataset)
    if not ds.items:
        _fail(f"dataset {ds.name} has no usable labelled images")
    if ds.folder not in (None, ds.root):
        console.print(f"data: {ds.root} (the 'root' of {ds.folder / 'manifest.json'})")
    run_dir = out_dir or (_latest_run(ds.name) if resume else None) or default_run_dir(ds)
    with _progress_bars() as progress:
        try:
            run_on(
                ds,
                opts,
                Path(run_dir),
                resume=resume,
                on_event=_progress_events(progress),
                retry_errors=not keep_errors,
            )
        except RunError as e:
            _fail(str(e))
    summary = summarize(Path(run_dir))
    print_summary(summary)
    out.print(f"run folder: {run_dir}")
    if report:
        _write_report(Path(run_dir), None)
    if gate:
        raise typer.Exit(
            _gate(Path(run_dir), gate, None, junit=Path(run_dir) / "gate.junit.xml", markdown=Path(run_dir) / "gate.md")
        )


def _latest_run(dataset: str) -> Path | None:
    from bench.runner import REPORTS

    runs = sorted(REPORTS.glob(f"{dataset}-*/run.json"))
    return runs[-1].parent if runs else None


def _write_report(run_dir: Path, compare_to: Path | None) -> Path:
    from bench.report import write_report

    path = write_report(run_dir, compare_to=compare_to)
    out.print(f"report: {path}")
    return path


@app.command()
def summarize_run(run_dir: Path) -> None:
    """Rebuild results.parquet/csv and summary.json from a run folder's predictions."""
    if not (run_dir / "run.json").exists():
        _fail(f"{run_dir} is not a run folder (no run.json)")
    print_summary(summarize(run_dir))


@app.command("engines")
def list_engines() -> None:
    """Engines with availability (packages, binaries, weights checked; nothing loaded)."""
    table = Table()
    for col in ("engine", "available", "detail"):
        table.add_column(col)
    for name in engine_names():
        reason = availability(name)
        table.add_row(name, "yes" if reason is None else "[red]no[/red]", reason or _weights_line(name))
    out.print(table)


def _weights_line(name: str) -> str:
    from bench import weights

    return {
        "easyocr": ", ".join(f"{k} {v}" for k, v in weights.EASYOCR_WEIGHTS.items()),
        "paddleocr": "PP-OCRv5_mobile det+rec, sha256-checked in " + str(weights.paddle_model_root()),
    }.get(name, "")


@datasets_app.callback(invoke_without_command=True)
def datasets_list(ctx: typer.Context) -> None:
    """List the project's datasets with their sizes."""
    if ctx.invoked_subcommand:
        return
    table = Table()
    for col in ("dataset", "images", "description"):
        table.add_column(col)
    for folder in list_datasets():
        try:
            ds = load_dataset(str(folder))
            table.add_row(ds.name, str(len(ds.items)), ds.manifest.get("description", ""))
        except DatasetError as e:
            table.add_row(folder.name, "-", f"[red]{e}[/red]")
    out.print(table)


@datasets_app.command("generate")
def datasets_generate(
    name: str,
    n: Annotated[int, typer.Option(min=1)] = 600,
    seed: Annotated[int, typer.Option()] = 0,
    styles: Annotated[str | None, typer.Option(help="Comma-separated style names (default: all).")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out")] = None,
) -> None:
    """Generate a synthetic serial-code dataset (images, labels.jsonl with char boxes, manifest)."""
    from ocr2stage.synth import GENERATOR_STYLES, generate_dataset

    chosen = [s.strip() for s in styles.split(",")] if styles else None
    unknown = sorted(set(chosen or []) - set(GENERATOR_STYLES))
    if unknown:
        _fail(f"unknown style(s) {', '.join(unknown)}; known: {', '.join(GENERATOR_STYLES)}")
    folder = out_dir or Path("datasets") / name
    with Progress(console=console) as progress:
        task = progress.add_task(f"generating {name}", total=n)
        generate_dataset(folder, n=n, seed=seed, styles=chosen, progress=lambda k: progress.advance(task, k))
    out.print(f"{folder}: {n} images, fingerprint {write_fingerprint(folder)}")


@models_app.command("fetch")
def models_fetch() -> None:
    """Fetch and verify the PaddleOCR PP-OCRv5_mobile model folders (EasyOCR's come with a package)."""
    from bench.weights import WeightsError, easyocr_model_dir, fetch_paddle_models

    try:
        for model, folder in fetch_paddle_models().items():
            out.print(f"{model}: {folder} (sha256 verified)")
        out.print(f"EasyOCR weights: {easyocr_model_dir()} (md5 verified)")
    except WeightsError as e:
        _fail(str(e))


@app.command()
def report(
    run_dir: Path,
    other: Annotated[Path | None, typer.Argument(help="A second run to compare with.")] = None,
    baseline: Annotated[Path | None, typer.Option(help="Same as the second argument.")] = None,
) -> None:
    """Write report.html for a run folder (optionally compared with another run)."""
    for folder in filter(None, (run_dir, other, baseline)):
        if not (folder / "summary.json").exists():
            _fail(f"{folder} has no summary.json (run `bench summarize-run {folder}` first)")
    _write_report(run_dir, other or baseline)


@baseline_app.command("save")
def baseline_save(run_dir: Path, to: Annotated[Path, typer.Option(help="Baseline file to write (JSON).")]) -> None:
    """Store a finished run's metrics and per-image outcomes as a baseline (commit it)."""
    from bench.baseline import BaselineError
    from bench.gate import save_baseline

    if not (run_dir / "summary.json").exists():
        _fail(f"{run_dir} has no summary.json: not a finished run")
    try:
        out.print(f"baseline: {save_baseline(run_dir, to)}")
    except BaselineError as e:
        _fail(str(e))


@app.command("gate")
def gate_cmd(
    run_dir: Path,
    baseline: Annotated[Path, typer.Option(help="Baseline file from `bench baseline save`.")],
    config: Annotated[Path | None, typer.Option(help="Gate thresholds (TOML); defaults otherwise.")] = None,
    junit: Annotated[Path | None, typer.Option(help="Write JUnit XML, one test case per check.")] = None,
    markdown: Annotated[Path | None, typer.Option(help="Write a markdown summary (PR comment, job summary).")] = None,
) -> None:
    """Compare a run with a baseline: exit 0 pass, 1 regression, 2 cannot judge."""
    raise typer.Exit(_gate(run_dir, baseline, config, junit, markdown))


def _gate(
    run_dir: Path, baseline: Path, config: Path | None, junit: Path | None = None, markdown: Path | None = None
) -> int:
    from bench.gate import run_gate

    return run_gate(run_dir, baseline, config, junit=junit, markdown=markdown)


def _open_dataset(name_or_path: str) -> Dataset:
    """The dataset, its skipped label rows listed; exit 2 when it cannot be used at all."""
    try:
        ds = load_dataset(name_or_path)
    except DatasetError as e:
        _fail(str(e))
    for problem in ds.problems:
        console.print(f"[yellow]skipped label:[/yellow] {problem}")
    return ds


def _progress_bars() -> Progress:
    return Progress(
        TextColumn("{task.description:<20}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
    )


def _progress_events(progress: Progress) -> Any:
    """An ``OnEvent`` (bench.runner) that keeps one bar per task: an engine, or a crossval step."""
    tasks: dict[str, Any] = {}

    def on_event(name: str, event: str, count: int) -> None:
        if name not in tasks:
            tasks[name] = progress.add_task(name, total=None, status="")
        if event == "total":
            progress.update(tasks[name], total=count)
        elif event == "advance":
            progress.advance(tasks[name], count)
        else:
            progress.update(tasks[name], status=event.removeprefix("status:")[:60])

    return on_event


@app.command()
def crossval(
    dataset: Annotated[str, typer.Option(help="Dataset name under datasets/ or a dataset folder.")],
    folds: Annotated[int, typer.Option(min=2, help="Number of folds (k).")] = 5,
    group_by: Annotated[
        str | None,
        typer.Option(
            help="Keep images of one group in one fold: 'text' (the label: several photos of one plate) or a "
            "meta column of the labels."
        ),
    ] = None,
    engines: Annotated[str, typer.Option(help="Peers read unchanged (two-stage is always among them).")] = ",".join(
        DEFAULT_ENGINES
    ),
    seed: Annotated[int, typer.Option(help="Seed of the fold split.")] = 0,
    epochs: Annotated[int, typer.Option(min=1, help="Fine-tuning epochs per fold.")] = 3,
    n_images: Annotated[int, typer.Option(min=0, help="Generated images mixed into each fold's fine-tuning.")] = 0,
    val_images: Annotated[int, typer.Option(min=1, help="Generated images the fine-tuning is checked on.")] = 200,
    train_seed: Annotated[int, typer.Option(help="Seed of the generated images and the training order.")] = 1,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Run folder (default reports/crossval-<dataset>-<time>).")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue the crossval in --out (same split and settings).")] = False,
    cache_dir: Annotated[Path, typer.Option(help="Stage-1 crop cache.")] = Path(".cache/ocr2stage"),
    device: Annotated[str, typer.Option(help="cpu, cuda or cuda:N.")] = "cpu",
    timeout: Annotated[float, typer.Option(help="Seconds one image may take before its engine is restarted.")] = 120.0,
    report: Annotated[bool, typer.Option(help="Write report.html at the end.")] = True,
) -> None:
    """What fine-tuning the classifier on your own labelled images buys, measured across folds:
    each image is read by a classifier fine-tuned on the other folds only (docs/crossval.md)."""
    from bench.crossval import FINETUNED, CrossvalError, CrossvalOptions, plan
    from bench.crossval import crossval as run_crossval
    from bench.runner import REPORTS

    names = [e.strip() for e in engines.split(",") if e.strip()]
    if FINETUNED in names:
        _fail(f"{FINETUNED} is the name crossval gives the fold-tuned readings; it is not a peer")
    _check_engines(names)
    if device != "cpu" and not device.startswith("cuda"):
        _fail(f"unknown device {device!r}; use cpu, cuda or cuda:N")
    if resume and out_dir is None:
        _fail("--resume needs the run folder: --out DIR")
    ds = _open_dataset(dataset)
    opts = CrossvalOptions(
        folds=folds,
        seed=seed,
        group_by=group_by,
        engines=tuple(names),
        epochs=epochs,
        n_images=n_images,
        val_images=val_images,
        train_seed=train_seed,
        cache_dir=cache_dir,
        device=device,
        timeout_s=timeout,
        command=shlex.join(["bench", *sys.argv[1:]]),
    )
    run_dir = out_dir or REPORTS / f"crossval-{ds.name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    try:
        plan(ds, opts)  # bad folds or groups stop here, before any work (and before the progress bars)
        with _progress_bars() as progress:
            run_crossval(ds, opts, run_dir, resume=resume, on_event=_progress_events(progress))
    except (CrossvalError, RunError) as e:
        _fail(str(e))
    print_summary(summarize(run_dir))
    out.print(f"run folder: {run_dir}")
    if report:
        _write_report(run_dir, None)


@app.command()
def finetune(
    dataset: Annotated[
        str,
        typer.Option(
            help="Your labelled code images: a dataset name or folder (images/ + labels.csv file,text or labels.jsonl)."
        ),
    ],
    out_path: Annotated[Path, typer.Option("--out", help="Weights to write (+ .json checksum sidecar).")],
    init: Annotated[Path | None, typer.Option(help="Weights to start from (default: the shipped ones).")] = None,
    epochs: Annotated[int, typer.Option(min=1)] = 3,
    n_images: Annotated[
        int, typer.Option(min=0, help="Generated images mixed in, so other codes are not forgotten.")
    ] = 1000,
    val_images: Annotated[int, typer.Option(min=1, help="Generated images the result is checked on.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the generated images and the training order.")] = 1,
    cache_dir: Annotated[Path, typer.Option(help="Stage-1 crop cache.")] = Path(".cache/ocr2stage"),
    device: Annotated[str, typer.Option(help="cpu, cuda or cuda:N.")] = "cpu",
) -> None:
    """Fine-tune the two-stage classifier on your own code images, labelled only with their text:
    each character crop is labelled by aligning the text to the classifier's reading. Read the
    result with --engine-option two-stage.classifier=OUT; measure first with bench crossval."""
    import torch

    from bench.finetune import FinetuneError
    from bench.finetune import finetune as run_finetune
    from ocr2stage.classification.train import TrainConfig
    from ocr2stage.classification.weights import DEFAULT_PATH, save_classifier, verify_classifier

    ds = _open_dataset(dataset)
    base = init or DEFAULT_PATH
    cfg = TrainConfig(
        n_images=n_images,
        val_images=val_images,
        seed=seed,
        epochs=epochs,
        init=base,
        cache_dir=cache_dir,
        device=device,
    )
    torch.manual_seed(seed)
    try:
        with _progress_bars() as progress:
            result, data = run_finetune(ds, cfg, console.print, _progress_events(progress))
    except (FinetuneError, ValueError) as e:
        _fail(str(e))
    meta = {
        "command": shlex.join(["bench", *sys.argv[1:]]),
        "init": str(base),
        "init_sha256": verify_classifier(base),
        "user_codes": data,
        "seed": seed,
        "n_images": n_images,
        "val_images": val_images,
        "epochs": epochs,
        "bf16": result.bf16,
        "train_crops": result.n_train,
        "train_seconds": round(result.seconds, 1),
        "val_accuracy": round(result.val_accuracy, 5),
        "torch": torch.__version__,
    }
    checksum = save_classifier(result.net, out_path, meta)
    out.print(
        f"{data['images']} images, {data['crops']} crops; generated validation crops {result.val_accuracy:.4f}; "
        f"wrote {out_path} ({checksum})"
    )


if __name__ == "__main__":
    app()
