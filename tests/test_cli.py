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
