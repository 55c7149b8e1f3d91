"""The listing commands and weight fetching, on the real installed engines and datasets."""

from typer.testing import CliRunner

from bench.cli import app

runner = CliRunner()


def test_engines_lists_each_engine_with_availability():
    result = runner.invoke(app, ["engines"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for name in ("two-stage", "easyocr", "paddleocr", "tesseract"):
        row = next(line for line in result.output.splitlines() if f" {name} " in line)
        assert " yes " in row, row


def test_datasets_lists_the_shipped_set_with_its_size():
    result = runner.invoke(app, ["datasets"], terminal_width=200)
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if " serials " in line)
    assert " 600 " in row


def test_models_fetch_is_idempotent_and_verifies():
    result = runner.invoke(app, ["models", "fetch"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "PP-OCRv5_mobile_det" in result.output and "sha256 verified" in result.output


def test_summary_table_never_cuts_engine_names(capsys):
    """Issue 25.16: at 80 columns (and when not a terminal) rich cut both two-stage rows to ``two-s…``."""
    from bench.cli import out, print_summary

    metrics = {"sequence_accuracy": 0.912, "cer": 0.013, "p50_ms": 83.0, "p95_ms": 120.0, "n_errors": 0}
    names = ["two-stage", "two-stage-int8", "engine_doubles:FaultyTesseract", "easyocr"]
    engines = {n: {"metrics": metrics, "load_s": 4.1, "error": None} for n in names}
    engines["easyocr"]["error"] = "EngineUnavailable: weights missing, a long reason that may wrap"
    width = out.width
    out.width = 80
    try:
        print_summary({"run": {"dataset": {"name": "serials", "n": 600}}, "engines": engines})
    finally:
        out.width = width
    text = capsys.readouterr().out
    assert "…" not in text
    for name in names:
        assert f"│ {name} " in text
    assert "easyocr: EngineUnavailable: weights missing, a long reason that may wrap" in " ".join(text.split())
