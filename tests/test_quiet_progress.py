"""``runner.progress=false`` silences every progress bar of the run, the libraries' too, and only for the run."""

from __future__ import annotations

from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars
from transformers.utils import logging as transformers_logging

from awaker_eval import cli
from awaker_eval.progress import library_progress_bars

LIBRARY_BARS = ("Loading weights", "Writing model shards")


def _run(tmp_path, name: str, *overrides: str) -> int:
    return cli.main(["benchmark.limit=4", "runner.bootstrap_samples=20", f"model.cache_dir={tmp_path / 'cache'}",
                     f"benchmark.cache_dir={tmp_path / 'data'}", f"output_dir={tmp_path / name}", *overrides])


def test_progress_false_shows_no_bar_at_all_and_true_still_does(tmp_path, capsys):
    assert _run(tmp_path, "quiet", "runner.progress=false") == 0  # builds the tiny model: "Writing model shards"
    err = capsys.readouterr().err
    assert [bar for bar in LIBRARY_BARS if bar in err] == [] and "sample/s" not in err
    assert transformers_logging.is_progress_bar_enabled() and not are_progress_bars_disabled()  # put back
    assert _run(tmp_path, "shown", "runner.progress=true") == 0
    err = capsys.readouterr().err
    assert "Loading weights" in err and "generate:" in err


def test_the_libraries_settings_are_restored_as_they_were():
    with library_progress_bars(False):
        assert not transformers_logging.is_progress_bar_enabled() and are_progress_bars_disabled()
    assert transformers_logging.is_progress_bar_enabled() and not are_progress_bars_disabled()
    disable_progress_bars()  # a caller who turned the hub's bars off keeps them off
    try:
        with library_progress_bars(False):
            pass
        assert are_progress_bars_disabled() and transformers_logging.is_progress_bar_enabled()
    finally:
        enable_progress_bars()
    with library_progress_bars(True):
        assert transformers_logging.is_progress_bar_enabled()
