"""One-line errors for every user error (exit 2), Ctrl-C (exit 130), full / read-only disks: never a traceback."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import REPO, shared_path
from safetensors.torch import save_file

from awaker_eval import cli
from awaker_eval.user_errors import run_reported


def _cli(capsys, *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv))
    return code, capsys.readouterr().err


def test_convert_checkpoint_onto_an_existing_file_is_one_line(capsys, tmp_path):
    golden = shared_path("awaker_golden")
    dst = tmp_path / "out"
    dst.write_text("not a directory")
    code, err = _cli(capsys, "convert-checkpoint", str(golden / "awaker_tiny.bin"), str(dst))
    assert (code, err) == (2, f"error: {dst}: File exists\n")


@pytest.mark.parametrize("name, start", [
    ("awaker_tiny.bin", "error: {fixture}/awaker_tiny.bin: not a plain tensor checkpoint"),
    ("inputs.safetensors", "verify-golden: {fixture}: inputs.safetensors or expected.safetensors is unreadable "
                           "(Error while deserializing header"),
])
def test_verify_golden_with_a_corrupt_file_is_one_line(capsys, tmp_path, name, start):
    golden = shared_path("awaker_golden")
    fixture = tmp_path / "golden"
    fixture.mkdir()
    for item in golden.iterdir():
        (fixture / item.name).symlink_to(item)
    (fixture / name).unlink()
    (fixture / name).write_bytes((golden / name).read_bytes()[:100])  # truncated
    code, err = _cli(capsys, "verify-golden", str(fixture), "--dtype", "float32")
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(start.format(fixture=fixture))


def test_safetensor_error_outside_our_readers_is_one_line(capsys, tmp_path):
    from safetensors import safe_open

    bad = tmp_path / "x.safetensors"
    save_file({"w": torch.zeros(2)}, bad)
    bad.write_bytes(b"\xff" * 8 + bad.read_bytes()[8:])

    def main():
        with safe_open(str(bad), framework="pt"):
            pass

    assert run_reported(main) == 2
    assert capsys.readouterr().err.startswith("error: ")


@pytest.mark.parametrize("line, kind", [("[1, 2]", "list"), ('"text"', "str"), ("null", "NoneType")])
def test_score_input_line_that_is_not_an_object(capsys, tmp_path, line, kind):
    preds = tmp_path / "predictions.jsonl"
    preds.write_text(line + "\n", encoding="utf-8")
    code, err = _cli(capsys, "score", str(preds), "--benchmark", "mme_realworld")
    assert (code, err) == (2, f"awaker-eval score: error: {preds}:1: not a prediction record (expected a JSON "
                              f"object, got {kind})\n")


@pytest.mark.parametrize("code_, text", [(errno.ENOSPC, "No space left on device"),
                                         (errno.EROFS, "Read-only file system")])
def test_full_or_read_only_disk_says_what_was_saved(capsys, code_, text):
    def main():
        raise OSError(code_, text, "/runs/x/run.json")

    assert run_reported(main, saved=lambda: "40 predictions saved in /runs/x") == 2
    assert capsys.readouterr().err == (f"error: /runs/x/run.json: {text} (disk full or not writable; 40 predictions "
                                       "saved in /runs/x; free space or fix permissions and rerun)\n")


def test_disk_full_while_writing_run_outputs(capsys, tmp_path, tiny_cache_dir, monkeypatch):
    import awaker_eval.pipeline as pipeline  # the run's entry point calls write_run_outputs

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "run" / "scores.json"))

    monkeypatch.setattr(pipeline, "write_run_outputs", full)
    with pytest.raises(SystemExit) as stop:
        cli.main(["benchmark.limit=2", f"model.cache_dir={tiny_cache_dir}", "model.dtype=float32",
                  "model.device=cpu", "runner.progress=false", f"output_dir={tmp_path / 'run'}"])
    assert stop.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"error: {tmp_path / 'run' / 'scores.json'}: No space left on device (disk full or not writable; 2 "
        f"predictions saved in {tmp_path / 'run'}; free space or fix permissions and rerun)")


def test_interrupt_of_any_subcommand_is_one_line(capsys, monkeypatch):
    import awaker_eval.report.table_cli as table_cli

    def interrupted(argv):
        raise KeyboardInterrupt

    monkeypatch.setattr(table_cli, "main", interrupted)
    assert _cli(capsys, "table", "x") == (130, "interrupted: work finished so far is kept, rerun the same command to "
                                               "resume\n")


def _saved_lines(run_dir: Path) -> int:
    return sum(len(f.read_text().splitlines()) for f in (run_dir / "shards").glob("*.jsonl")) \
        if (run_dir / "shards").is_dir() else 0


# The run, held at an observable point: after the first batch is stored, the engine's shard writer announces it
# (a marker file) and waits there until the test's SIGINT arrives, however loaded the machine is.
_HELD_RUN = """
import sys, time
from pathlib import Path
from awaker_eval import cli
from awaker_eval.engine import store

marker, argv = Path(sys.argv[1]), sys.argv[2:]
append = store.ShardWriter.append

def append_then_hold(self, preds):
    append(self, preds)
    if not marker.exists():
        marker.write_text("stored")
        while True:
            time.sleep(0.05)

store.ShardWriter.append = append_then_hold
sys.exit(cli.main(argv))
"""


def test_ctrl_c_during_a_run_stops_cleanly(tmp_path, tiny_cache_dir):
    run_dir, marker = tmp_path / "run", tmp_path / "first_batch_stored"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-c", _HELD_RUN, str(marker), "runner.batch_size=1", "runner.progress=false",
         "model.dtype=float32", f"model.cache_dir={tiny_cache_dir}", f"output_dir={run_dir}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 300
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert marker.exists(), "the run never stored its first batch"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert _saved_lines(run_dir) == 1  # interrupted while holding after its first stored batch: nothing lost
    assert err.splitlines()[-1] == f"interrupted: 1 predictions saved in {run_dir}, rerun the same command to resume"
    assert "Traceback" not in err
    assert not (run_dir / "scores.json").exists()
    assert json.loads((run_dir / "shards").glob("*.jsonl").__next__().read_text().splitlines()[0])["id"]


@pytest.mark.parametrize("content, cause", [
    (b"", "EmptyDataError: No columns to parse from file"),
    (b"index\tquestion\n1\t\xff\xfe bad\n", "UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff in position 0: "
                                            "invalid start byte"),
])
def test_empty_or_non_utf8_tsv_is_one_line(capsys, tmp_path, content, cause):
    tsv = tmp_path / "bench.tsv"
    tsv.write_bytes(content)
    with pytest.raises(SystemExit) as stop:
        cli.main(["benchmark=mmbench", "benchmark.layout=tsv", f"benchmark.source={tsv}",
                  f"benchmark.cache_dir={tmp_path / 'cache'}", f"results_root={tmp_path / 'results'}"])
    assert stop.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"error: {tsv}: cannot read the table ({cause}); the file must be a non-empty UTF-8 file in the format its "
        "suffix names")
    assert not (tmp_path / "results").exists()


def test_an_image_with_an_extreme_aspect_ratio_fails_that_sample_only(tmp_path, tiny_cache_dir, capsys):
    """One 6000x20 image (qwen_vl_utils refuses ratios over 200) used to abort the run before anything was stored."""
    from test_data_mme_realworld import official_rows, png, write_official

    path, root = write_official(tmp_path, official_rows())
    (root / "mo" / "b.png").write_bytes(png(6000, 20))
    argv = [f"benchmark.source={path}", f"benchmark.image_root={root}", "benchmark.layout=official_json",
            f"model.cache_dir={tiny_cache_dir}", f"benchmark.cache_dir={tmp_path / 'data'}", "runner.progress=false",
            "runner.bootstrap_samples=20", "benchmark.max_new_tokens=2", f"output_dir={tmp_path / 'run'}",
            "runner.max_failed_fraction=0.5"]
    assert cli.main(argv) == 0
    preds = [json.loads(line) for line in (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()]
    assert [p["error"] for p in preds] == [None, "ValueError: absolute aspect ratio must be smaller than 200, got "
                                                 "300.0", None]
    assert json.loads((tmp_path / "run" / "scores.json").read_text())["n_failed"] == 1
    assert "Traceback" not in capsys.readouterr().err


def test_a_file_size_limit_is_one_line_exit_2(tmp_path, tiny_cache_dir):
    """EFBIG (``ulimit -f``) is the user's environment, as ENOSPC is: one line saying what was saved."""
    from test_data_mme_realworld import official_rows, write_official

    path, root = write_official(tmp_path, official_rows())
    run_dir = tmp_path / "run"
    script = ("import resource, sys\nresource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))\n"
              "from awaker_eval import cli\nsys.exit(cli.main(sys.argv[1:]))\n")
    argv = [f"benchmark.source={path}", f"benchmark.image_root={root}", "benchmark.layout=official_json",
            f"model.cache_dir={tiny_cache_dir}", f"benchmark.cache_dir={tmp_path / 'data'}", "runner.progress=false",
            "runner.bootstrap_samples=20", "benchmark.max_new_tokens=2", f"output_dir={run_dir}"]
    proc = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        f"error: File too large (a file size limit was reached; 3 predictions saved in {run_dir}; raise the limit "
        "(ulimit -f) or write to another file system and rerun)")
    lock = subprocess.run(["git", "rev-parse", "--path-format=absolute", "--git-path", "index.lock"], cwd=REPO,
                          capture_output=True, text=True).stdout.strip()
    assert lock and not Path(lock).exists()  # run.json's git query never writes the checkout's index
