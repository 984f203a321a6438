"""Past one machine (docs/scaling.md): job-array shards merged by the store, and their refusals.

Every merged run is compared byte for byte with one single-process run of the 40-item demo on the tiny model
(``reference``, made once). Shards run in this process (``pipeline.evaluate`` as the command line composes it),
except the one that is SIGKILLed mid-run; then two "nodes" of torchrun on localhost (c10d rendezvous, gloo) and
Hydra's submitit_local launcher, as separate processes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from awaker_eval import cli, merge_cli
from awaker_eval.app import SweepRuns, print_sweep_table
from awaker_eval.engine.shards import Part, all_costs, assign_part, parse_part
from awaker_eval.overrides import compose_run_config
from awaker_eval.pipeline import evaluate
from awaker_eval.preflight import ConfigError, check_shard
from awaker_eval.config.schema import RunnerConfig
from awaker_eval.run_lock import RunDirBusy, run_dir_lock
from awaker_eval.shard_records import record_path
from awaker_eval.shard_runs import ShardRun
from awaker_eval.tasks.registry import get_benchmark
from awaker_eval.user_errors import run_reported

REPO = Path(__file__).resolve().parents[1]
OUTPUTS = ("predictions.jsonl", "scores.json", "leaderboard.md")

MME = get_benchmark("mme_realworld")


@pytest.fixture(scope="module")
def demo(tmp_path_factory, tiny_cache_dir):
    """The demo's overrides (shared data and model caches) and its single-process run directory."""
    data = tmp_path_factory.mktemp("data")
    common = [f"benchmark.cache_dir={data}", f"model.cache_dir={tiny_cache_dir}", "runner.progress=false"]
    reference = run(common + [f"results_root={tmp_path_factory.mktemp('single')}"])
    assert reference[0] == 0
    return common, reference[1]


def run(argv: list[str]) -> tuple[int, Path | None]:
    """One invocation in this process, as ``python -m awaker_eval ARGV`` runs it: (exit status, run directory)."""
    found: list[Path] = []

    def go() -> None:
        found.append(evaluate(compose_run_config(argv, command="evaluate"), on_run_dir=found.append))

    code = run_reported(go)
    return code, (found[0] if found else None)


def same_outputs(run_dir: Path, reference: Path) -> None:
    for name in OUTPUTS:
        assert (run_dir / name).read_bytes() == (reference / name).read_bytes(), name


def merge(run_dir: Path) -> int:
    return run_reported(lambda: merge_cli.main([str(run_dir)]))


def test_shard_setting_is_checked():
    assert parse_part("1/3") == Part(1, 3) and parse_part(None) is None and parse_part(" 0 / 1 ") == Part(0, 1)
    for bad, why in [("3/3", "from 0 to 2"), ("1/0", "at least 1"), ("a/3", "is not I/N"), ("2", "is not I/N"),
                     ("-1/3", "is not I/N")]:
        with pytest.raises(ConfigError, match=f"^runner.shard: .*{why}"):
            check_shard(RunnerConfig(shard=bad))
    with pytest.raises(ConfigError, match="runner.resume=false would set aside the other shards' predictions"):
        check_shard(RunnerConfig(shard="0/2", resume=False))


def test_command_line_refuses_a_bad_shard_in_one_line(tmp_path, capsys):
    try:
        code = cli.main(["runner.shard=3/3", f"results_root={tmp_path}", "benchmark.limit=2"])
    except SystemExit as exc:  # the Hydra task exits with the status
        code = exc.code
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: runner.shard: '3/3': the shard index I must be from 0 to 2 for N=3")
    assert not any(tmp_path.iterdir())  # refused before anything was written


def test_every_shard_computes_the_same_parts():
    costs = [7, 3, 3, 9, 1, 1, 5, 2, 8, 8, 4]
    parts = [assign_part(costs, Part(i, 3)) for i in range(3)]
    assert sorted(p for a in parts for p in a.positions) == list(range(len(costs)))  # a partition
    assert all(a.part_costs == parts[0].part_costs for a in parts)  # the same assignment whichever I computes it
    assert max(parts[0].part_samples) <= 4 and parts[0].balance()["max_over_mean"] < 1.1
    assert all_costs(4, lambda p: 10 * p) == [0, 10, 20, 30]  # one process estimates every sample


def _env() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return dict(os.environ, PYTHONPATH=path, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")


def test_shards_one_after_another_then_merge(demo, tmp_path, capsys):
    common, reference = demo
    argv = common + [f"results_root={tmp_path}"]
    code, run_dir = run(argv + ["runner.shard=0/3"])
    assert code == 0 and run_dir.parent.parent.parent == tmp_path and run_dir.name == reference.name
    assert run(argv + ["runner.shard=1/3"])[0] == 0
    assert not (run_dir / "predictions.jsonl").exists()  # nothing scored before all three are there
    capsys.readouterr()
    assert merge(run_dir) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: shard 2/3 is missing (no {record_path(run_dir, Part(2, 3))}): run it with runner.shard=2/3, "
        f"then merge")
    assert not (run_dir / "scores.json").exists()
    assert run(argv + ["runner.shard=2/3"])[0] == 0  # the last one merges
    same_outputs(run_dir, reference)
    out = capsys.readouterr().out
    assert "shard 2/3: 14 of 40 samples stored" in out and "| tiny ★ | - | this run | 20.0 |" in out
    assert merge(run_dir) == 0  # the command merges the same shards to the same bytes
    same_outputs(run_dir, reference)
    meta = json.loads((run_dir / "run.json").read_text())
    job = meta["engine"]["shards"]["job_shards"]
    assert job["count"] == 3 and job["part_samples"] == [13, 13, 14] and meta["counts"]["done"] == 40

    assert run(argv + ["runner.shard=0/2"])[0] == 2  # another N for the same run: refused at the start
    assert capsys.readouterr().err.strip() == (
        f"error: {run_dir} is already split into 3 shards, not 2: run runner.shard=I/3, or remove its "
        f"shards/part-*-of-3.json records to split it anew (stored predictions are kept and reused)")
    _refusals(run_dir, argv, capsys)
    same_outputs(run_dir, reference)  # no refusal wrote anything
    assert run(argv + ["runner.shard=2/3"])[0] == 0  # the settings of the others again: merges
    _merge_once_when_two_finish(run_dir, reference, capsys)


def test_a_whole_run_supersedes_the_shards_it_finds(demo, tmp_path, capsys):
    """After a merge, a whole run in the same directory (say, after the checkpoint was replaced in place: same run
    id) writes the outputs. The old shards' records are set aside, so a later ``merge`` or a requeued shard can no
    longer write their numbers over it or call them already merged."""
    common, reference = demo
    argv = common + [f"results_root={tmp_path}"]
    assert run(argv + ["runner.shard=0/2"])[0] == 0
    code, run_dir = run(argv + ["runner.shard=1/2"])
    assert code == 0
    same_outputs(run_dir, reference)
    capsys.readouterr()
    assert run(argv)[0] == 0  # the whole run: reuses every stored prediction
    out = capsys.readouterr().out
    assert f"earlier job-array shard records set aside in {run_dir / 'shards' / 'retired1'}" in out
    assert sorted(p.name for p in (run_dir / "shards" / "retired1").iterdir()) == [
        "merged.json", "part-0-of-2.json", "part-0-of-2.predictions.jsonl", "part-1-of-2.json",
        "part-1-of-2.predictions.jsonl"]
    same_outputs(run_dir, reference)
    assert merge(run_dir) == 2  # nothing left to merge: the whole run's outputs stand
    assert "holds no shard records" in capsys.readouterr().err
    same_outputs(run_dir, reference)


def _refusals(run_dir: Path, argv: list[str], capsys) -> None:
    """Shards made with other settings, weights or data, a damaged predictions file, another N: one line, exit 2."""
    record = record_path(run_dir, Part(2, 3))
    saved = record.read_text()
    assert run(argv + ["runner.shard=2/3", "runner.bootstrap_samples=50"])[0] == 2  # the last: it tries to merge
    assert capsys.readouterr().err.strip().endswith(
        "error: shard 2/3 was made with other settings than shard 0/3 (runner.bootstrap_samples: 1000 in shard 0/3, "
        "50 in shard 2/3): rerun it with runner.shard=2/3 and the settings of the others (finished samples are "
        "reused), then merge")
    assert merge(run_dir) == 2 and "shard 2/3 was made with other settings" in capsys.readouterr().err
    for key, words in [("model_fp", "with other weights"), ("data_digest", "from other data")]:
        changed = json.loads(saved)
        changed[key] = "0" * 16
        record.write_text(json.dumps(changed))
        assert merge(run_dir) == 2
        assert f"error: shard 2/3 was made {words} than shard 0/3" in capsys.readouterr().err
    record.write_text(saved)
    preds = run_dir / "shards" / "part-1-of-3.predictions.jsonl"
    text = preds.read_text()
    preds.write_text(text.replace('"extracted": "', '"extracted": "X', 1))
    assert merge(run_dir) == 2
    assert "shard 1/3 is incomplete: its predictions file is missing or is not the one its record describes" in \
        capsys.readouterr().err
    preds.write_text(text)
    record.write_text('{"shard": "2/3", "status": "comp')  # a record torn by a crashed writer (never atomic here)
    assert merge(run_dir) == 2 and "shard 2/3 has an unreadable record" in capsys.readouterr().err
    record.write_text(saved)
    other = record_path(run_dir, Part(0, 2))
    other.write_text(saved)
    assert merge(run_dir) == 2 and "holds shards of different N (2, 3)" in capsys.readouterr().err
    other.unlink()


def _merge_once_when_two_finish(run_dir: Path, reference: Path, capsys) -> None:
    """Two shards finding all N complete at the same moment: one merges, the other sees that merge and stops."""
    for name in ("predictions.jsonl", "scores.json", "shards/merged.json"):
        (run_dir / name).unlink()
    attempts = len(json.loads((run_dir / "run.json").read_text())["attempts"])
    shards = [ShardRun(Part(i, 3), run_dir, MME) for i in (1, 2)]
    threads = [threading.Thread(target=s.merge_if_last, args=(None, False)) for s in shards]
    capsys.readouterr()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(s.merged for s in shards) and all(len(s.final_predictions) == 40 for s in shards)
    assert capsys.readouterr().out.count("shards already merged by another shard") == 1
    assert len(json.loads((run_dir / "run.json").read_text())["attempts"]) == attempts + 1  # one merge
    same_outputs(run_dir, reference)


def test_a_sweep_table_leaves_out_a_run_its_shards_have_not_merged(tmp_path, capsys):
    print_sweep_table(SweepRuns("sweep", [tmp_path]))  # no scores.json: nothing to tabulate, no error line
    assert capsys.readouterr() == ("", "")


def test_locks_shards_together_but_not_with_a_whole_run(tmp_path):
    run_dir = tmp_path / "run"
    one, two = ShardRun(Part(0, 2), run_dir, MME), ShardRun(Part(1, 2), run_dir, MME)
    with one.hold(), two.hold():  # two shards at once
        with pytest.raises(RunDirBusy, match=r"is in use by another run \(pid \d+ on host .*\(shard [01]/2\)\)"):
            with run_dir_lock(run_dir):
                pass
        with pytest.raises(RunDirBusy, match=r"shard 0/2 of .* is already running \(pid \d+"):
            with ShardRun(Part(0, 2), run_dir, MME).hold():
                pass
    with run_dir_lock(run_dir):  # a whole run excludes every shard
        with pytest.raises(RunDirBusy, match="is in use by another run"):
            with one.hold():
                pass


def test_sigkilled_shard_rerun_between_the_others(demo, tmp_path, capsys):
    common, reference = demo
    argv = common + [f"results_root={tmp_path}"]
    assert run(argv + ["runner.shard=0/3"])[0] == 0
    run_dir = next(tmp_path.glob("*/*/run-*"))
    store = run_dir / "shards" / "predictions.rank0.part1of3.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "awaker_eval", *argv, "runner.shard=1/3", "runner.batch_size=1"],
                            env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and not (store.exists() and store.read_bytes()):
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    stored = store.read_text().count("\n")
    assert proc.returncode == -signal.SIGKILL and 0 < stored < 13  # killed mid-run, its first batches stored
    assert run(argv + ["runner.shard=2/3"])[0] == 0  # not the last: shard 1/3 is incomplete
    assert "waiting for shard(s) 1/3" in capsys.readouterr().out
    assert merge(run_dir) == 2
    assert "error: shard 1/3 is incomplete (running since " in capsys.readouterr().err
    assert run(argv + ["runner.shard=1/3"])[0] == 0  # resumes, then merges as the last one
    assert f"reusing {stored} stored predictions, computing {13 - stored}" in capsys.readouterr().out
    same_outputs(run_dir, reference)
    statuses = [a["status"] for a in json.loads(record_path(run_dir, Part(1, 3)).read_text())["attempts"]]
    assert statuses == ["killed", "ok"]
    shutil.rmtree(run_dir / "shards")


# -- launchers: two-node torchrun, Hydra's submitit launcher ----------------------------------------------------
def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(node_rank: int, port: int, argv: list[str], log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
           "--node-rank", str(node_rank), "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}",
           "--rdzv-id", f"test-{port}", "--max-restarts", "0", "-m", "awaker_eval", *argv]
    return subprocess.Popen(cmd, env=_env(), stdout=open(log.with_suffix(".out"), "w"),
                            stderr=open(log.with_suffix(".err"), "w"), start_new_session=True)


def two_nodes(argv: list[str], logs: Path) -> list[subprocess.Popen]:
    """Node 0's agent first, hosting the rendezvous store on a free port (another port when it lost it to
    another process), then node 1's."""
    for attempt in range(3):
        port = _free_port()
        node0 = _torchrun(0, port, argv, logs / f"node0-{attempt}")
        deadline = time.monotonic() + 60
        while node0.poll() is None and not _listening(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        if node0.poll() is None and _listening(port):
            return [node0, _torchrun(1, port, argv, logs / f"node1-{attempt}")]
        node0.kill()
        node0.wait()
    raise AssertionError("torchrun's rendezvous store never listened")


def _worker_rank(agent: subprocess.Popen) -> int:
    """The global rank torchrun gave the worker of this node (the c10d rendezvous assigns ranks itself)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == agent.pid:
                env = (stat.parent / "environ").read_bytes().split(b"\0")
                return int(next(v for v in env if v.startswith(b"RANK=")).split(b"=", 1)[1])
        except (OSError, ValueError, StopIteration, IndexError):
            continue
    raise AssertionError(f"no worker of torchrun agent {agent.pid}")


@pytest.fixture
def reaped():
    """The torchrun agents a test starts, killed with their workers (their own sessions) when it ends, so that
    a failed assertion never leaves a node running."""
    started: list[subprocess.Popen] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=30)


def test_two_nodes_fail_together_then_resume_to_the_single_process_result(demo, tmp_path, reaped):
    common, reference = demo
    argv = common + [f"results_root={tmp_path / 'results'}", "runner.batch_size=1"]
    nodes = two_nodes(argv, tmp_path)
    reaped += nodes
    deadline = time.monotonic() + 180
    stores = tmp_path / "results" / "mme_realworld_sample" / "tiny" / reference.name / "shards"
    while time.monotonic() < deadline and not any(f.read_bytes() for f in stores.glob("predictions.rank*.jsonl")):
        time.sleep(0.01)
    killed_rank = _worker_rank(nodes[1])
    nodes[1].send_signal(signal.SIGTERM)  # scancel / a preemption / Ctrl-C of the second node's torchrun
    t_kill = time.monotonic()
    assert nodes[0].wait(timeout=90) != 0
    stopped_s = time.monotonic() - t_kill
    assert nodes[1].wait(timeout=60) != 0
    err0 = next(tmp_path.glob("node0-*.err")).read_text()
    assert f"error: rank {killed_rank} failed: Terminated: stopped by SIGTERM" in err0
    assert stopped_s < 30  # told by the peer, not found dead after the 40 s liveness timeout
    run_dir = stores.parent
    assert not (run_dir / "predictions.jsonl").exists() and not (run_dir / "scores.json").exists()

    for f in tmp_path.glob("node*"):
        f.unlink()
    nodes = two_nodes(argv, tmp_path)  # the same command on both nodes: resumes
    reaped += nodes
    assert [n.wait(timeout=300) for n in nodes] == [0, 0], next(tmp_path.glob("node0-*.err")).read_text()[-2000:]
    assert "reusing " in next(tmp_path.glob("node0-*.out")).read_text()
    same_outputs(run_dir, reference)
    assert json.loads((run_dir / "run.json").read_text())["engine"]["world_size"] == 2


def test_submitit_local_launches_the_shards_and_the_last_merges(demo, tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    common, reference = demo
    out = subprocess.run([sys.executable, "-m", "awaker_eval", "-m", "hydra/launcher=submitit_local",
                          "runner.shard=0/3,1/3,2/3", *common, f"results_root={tmp_path}"],
                         env=_env(), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    run_dir = tmp_path / "mme_realworld_sample" / "tiny" / reference.name  # one run directory for the three
    same_outputs(run_dir, reference)
    (sweep,) = (tmp_path / "sweeps").iterdir()  # one sweep folder: the jobs resolved the parent's name
    logs = "".join(p.read_text() for p in sweep.glob(".submitit/*/*_log.out"))
    assert sorted(line.split(":")[0] for line in logs.splitlines() if line.startswith("shard ")) == [
        "shard 0/3", "shard 1/3", "shard 2/3"]
    assert logs.count("tiny: Overall 20.0 [7.3, 35.9], n=40") == 1  # merged once, by the last to finish
    assert merge(run_dir) == 0  # and the merge command agrees
    same_outputs(run_dir, reference)


def test_an_array_rerun_after_the_data_changed_waits_then_merges_the_new_data(tmp_path, tiny_cache_dir, capsys):
    """Both shards merged; the data file is edited (one answer); the array runs again. The first shard to finish
    finds the other's record from the old data: it waits (exit 0, its part stored), it does not fail the array;
    the last merges the new data. ``merge`` meanwhile refuses the mix."""
    from test_run_provenance import rows, write_tsv

    data = tmp_path / "data.tsv"
    argv = ["benchmark=mme_realworld", "benchmark.layout=tsv", f"benchmark.source={data}",
            f"benchmark.cache_dir={tmp_path / 'c'}", "benchmark.min_pixels=3136", "benchmark.max_pixels=12544",
            f"model.cache_dir={tiny_cache_dir}", f"results_root={tmp_path / 'r'}", "runner.progress=false",
            "runner.bootstrap_samples=50", "run_id=pinned"]
    write_tsv(data, rows(answers="ABE"))
    assert [run(argv + [f"runner.shard={i}/2"])[0] for i in (0, 1)] == [0, 0]
    write_tsv(data, rows(answers="BBE"))
    capsys.readouterr()
    code, run_dir = run(argv + ["runner.shard=0/2"])
    assert code == 0
    assert "waiting for shard(s) 1/2 (its record is from other data or weights)" in capsys.readouterr().out
    assert merge(run_dir) == 2 and "shard 1/2 was made from other data than shard 0/2" in capsys.readouterr().err
    assert run(argv + ["runner.shard=1/2"])[0] == 0
    merged = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    assert [p["answer"] for p in merged] == ["B", "B", "E"]  # the edited data, throughout
