"""``awaker-eval prepare`` against a fake hub (no network): what it fetches, the disk estimate it prints before
downloading, checksum failures (exit 2 naming the file and both hashes), and the benchmark loading afterwards."""

from __future__ import annotations

import hashlib
import io
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_parquet_inplace import lmms_rows

from awaker_eval import prepare as P
from awaker_eval.cli import main as cli_main

FULL = "0e6c388c6f50d4619e709d82dec42509d459ba44"
CKPT = b"fake checkpoint bytes"


def entry(name, size, sha=None):
    return SimpleNamespace(rfilename=name, size=size, lfs=SimpleNamespace(sha256=sha) if sha else None)


class FakeHub:
    """repo_info / list_repo_commits / snapshot_download / hf_hub_download over files written under tmp."""

    def __init__(self, tmp_path, ckpt_sha=None):
        self.root = tmp_path / "hub"
        self.calls: list[tuple] = []
        data = self.root / "dataset" / "data"
        data.mkdir(parents=True)
        pq.write_table(pa.table(lmms_rows(0, 3)), data / "train-00000-of-00001.parquet")
        base = self.root / "base"
        base.mkdir()
        (base / "config.json").write_text("{}")
        (self.root / "ckpt").mkdir()
        (self.root / "ckpt" / "pytorch_model.bin").write_bytes(CKPT)
        self.infos = {
            "yifanzhang114/MME-RealWorld-Lmms-eval": [entry("data/train-00000-of-00001.parquet", 30_900_000_000),
                                                      entry("README.md", 2_000)],
            "Qwen/Qwen2-VL-7B-Instruct": [entry("config.json", 1_000), entry("tokenizer.json", 7_000_000),
                                          entry("model-00001-of-00005.safetensors", 3_900_000_000)],
            "MetabrainAGI/Awaker2.5-VL": [entry("pytorch_model.bin", 22_163_183_040,
                                                ckpt_sha or hashlib.sha256(CKPT).hexdigest()),
                                          entry("README.md", 5_000)],
        }

    def api(self):
        hub = self

        class Api:
            def repo_info(self, repo, repo_type=None, revision=None, files_metadata=False):
                hub.calls.append(("repo_info", repo, repo_type, revision))
                return SimpleNamespace(siblings=hub.infos[repo])

            def list_repo_commits(self, repo):
                return [SimpleNamespace(commit_id=FULL), SimpleNamespace(commit_id="a8b2fd6" + "0" * 33)]

        return Api

    def snapshot_download(self, repo, repo_type=None, revision=None, allow_patterns=None, cache_dir=None):
        self.calls.append(("snapshot_download", repo, repo_type, revision, allow_patterns))
        return str(self.root / ("dataset" if repo_type == "dataset" else "base"))

    def hf_hub_download(self, repo, filename, repo_type=None, revision=None, cache_dir=None):
        self.calls.append(("hf_hub_download", repo, filename, revision))
        return str(self.root / "ckpt" / filename)


@pytest.fixture
def hub(tmp_path, monkeypatch):
    import huggingface_hub

    fake = FakeHub(tmp_path)
    monkeypatch.setattr(huggingface_hub, "HfApi", fake.api())
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake.snapshot_download)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake.hf_hub_download)
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda *a, **k: None)
    monkeypatch.setattr(P, "free_bytes", lambda path: 120 * 10**9)
    return fake


def test_default_awaker_run_fetches_dataset_base_files_and_checkpoint(hub, capsys):
    assert cli_main(["prepare", "benchmark=mme_realworld", "model=awaker2_5_vl", "benchmark.revision=r1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "prepare: benchmark mme_realworld (parquet), model awaker2_5_vl",
        "  dataset     yifanzhang114/MME-RealWorld-Lmms-eval @ r1  [*.parquet, **/*.parquet]  30.90 GB",
        "  base model  Qwen/Qwen2-VL-7B-Instruct @ main  [*.json, *.txt, *.jinja, *.model]  0.01 GB",
        f"  checkpoint  MetabrainAGI/Awaker2.5-VL @ {FULL}  [pytorch_model.bin]  22.16 GB",
        "disk needed: 53.07 GB, 0.00 GB of it already downloaded; free: 120.00 GB",
        "ready: 3 samples load; run offline with HF_HUB_OFFLINE=1 and the same overrides",
    ]
    fetched = [c for c in hub.calls if c[0] != "repo_info"]
    assert fetched == [
        ("snapshot_download", "Qwen/Qwen2-VL-7B-Instruct", None, None, ["config.json"]),  # preflight's reachability
        ("snapshot_download", "yifanzhang114/MME-RealWorld-Lmms-eval", "dataset", "r1", ["*.parquet", "**/*.parquet"]),
        ("snapshot_download", "Qwen/Qwen2-VL-7B-Instruct", "model", None, ["*.json", "*.txt", "*.jinja", "*.model"]),
        ("hf_hub_download", "MetabrainAGI/Awaker2.5-VL", "pytorch_model.bin", FULL),
        # the run's own load (in place: the same snapshot, nothing converted)
        ("snapshot_download", "yifanzhang114/MME-RealWorld-Lmms-eval", "dataset", "r1", ["*.parquet", "**/*.parquet"]),
    ]


def test_checkpoint_with_a_wrong_sha256_is_exit_2_naming_both_hashes(hub, tmp_path, monkeypatch, capsys):
    hub.infos["MetabrainAGI/Awaker2.5-VL"][0].lfs.sha256 = "f" * 64
    assert cli_main(["prepare", "benchmark=mme_realworld", "model=awaker2_5_vl"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: {hub.root}/ckpt/pytorch_model.bin: sha256 {hashlib.sha256(CKPT).hexdigest()} does not "
                   f"match the hub's {'f' * 64} for MetabrainAGI/Awaker2.5-VL pytorch_model.bin (corrupt download: "
                   f"delete it and rerun prepare)")


def test_not_enough_disk_refuses_before_downloading(hub, monkeypatch, capsys):
    monkeypatch.setattr(P, "free_bytes", lambda path: 40 * 10**9)
    assert cli_main(["prepare", "benchmark=mme_realworld", "model=awaker2_5_vl"]) == 2
    captured = capsys.readouterr()
    assert "disk needed: 53.07 GB, 0.00 GB of it already downloaded; free: 40.00 GB" in captured.out
    assert captured.err.strip() == ("error: not enough disk: 53.07 GB still to download, 40.00 GB free (set HF_HOME "
                                    "/ benchmark.cache_dir to a larger disk)")
    assert [c[4] for c in hub.calls if c[0] != "repo_info"] == [["config.json"]]  # only preflight's check


class FakeResponse(io.BytesIO):
    def __init__(self, body: bytes):
        super().__init__(body)
        self.headers = {"Content-Length": str(len(body))}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_mmbench_tsv_md5_mismatch_is_exit_2_naming_file_and_both_hashes(tmp_path, monkeypatch, capsys):
    body = b"index\tquestion\tA\tB\tanswer\n1\tq?\tx\ty\tA\n"
    urls = []
    monkeypatch.setattr(P.urllib.request, "urlopen", lambda req, timeout=0: urls.append(
        getattr(req, "method", None) or "GET") or FakeResponse(body))
    monkeypatch.setattr(P, "free_bytes", lambda path: 10**12)
    code = cli_main(["prepare", "benchmark=mmbench", "model=tiny", "benchmark.version=v10",
                     "benchmark.source=https://example.org/MMBench_DEV_EN.tsv", f"benchmark.cache_dir={tmp_path}"])
    assert code == 2
    captured = capsys.readouterr()
    target = tmp_path / "downloads" / "MMBench_DEV_EN.tsv"
    aside = tmp_path / "downloads" / "MMBench_DEV_EN.tsv.md5-mismatch"
    assert captured.err.strip().splitlines()[-1] == (
        f"error: {target}: MD5 {hashlib.md5(body).hexdigest()} does not match the published "
        f"b6caf1133a01c6bb705cf753bb527ed8 (corrupt or changed upstream); moved to {aside}: rerun prepare to fetch "
        f"it again, or pass benchmark.source={aside} to use it anyway")
    assert "  arrow cache  written by datasets on the first load of this layout  ~0.00 GB" in captured.out
    assert urls == ["HEAD", "GET"] and aside.read_bytes() == body and not target.exists()  # a run cannot use it


def test_bad_override_is_one_line_exit_2(capsys):
    assert cli_main(["prepare", "runner.batch_sise=4"]) == 2
    assert capsys.readouterr().err == (
        "error: unknown config key runner.batch_sise (did you mean runner.batch_size?): not in the schema "
        "(awaker_eval/config/schema.py); `python -m awaker_eval --cfg job` lists every key\n")


def test_offline_demo_needs_nothing(capsys, tmp_path):
    assert cli_main(["prepare", f"benchmark.cache_dir={tmp_path}", "benchmark.sample_size=4"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "prepare: benchmark mme_realworld_sample (synthetic), model tiny"
    assert out[1].startswith("disk needed: 0.00 GB, 0.00 GB of it already downloaded; free: n/a")
    assert out[2] == "ready: 4 samples load; run offline with HF_HUB_OFFLINE=1 and the same overrides"


def test_unreachable_hub_is_one_line_exit_2(hub, monkeypatch, capsys):
    import huggingface_hub

    def offline(repo, **kw):
        raise OSError("Name or service not known\nAn error happened while trying to locate the files on the Hub.")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    assert cli_main(["prepare", "benchmark=mme_realworld", "model=tiny"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: cannot fetch the dataset yifanzhang114/MME-RealWorld-Lmms-eval @ main [*.parquet, **/*.parquet]: "
        "OSError: Name or service not known An error happened while trying to locate the files on the Hub."]
