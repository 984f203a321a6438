"""The device bundle installs offline into an environment shaped like the GPU image, and the device check's dry run
(``scripts/gpu_checks.sh --tiny``: install, then the core at a tiny shape on CPU) runs there and reports real values.

The environment: a fresh venv holding torch (and what the GPU image has beside it that the device path imports:
torchvision, pillow, numpy, pandas, pyarrow, requests, tabulate, pip) as symlinks to this machine's packages listed
in a .pth file (no 2.5 GB reinstall), plus ``transformers==5.17.*`` from PyPI, the image's version. The bundle is
built for this machine's Python (3.11) by the same script and requirement files as the device's (3.12). Needs PyPI:
skips when it is unreachable, fails under CI=true.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "scripts"
# Distributions of the GPU image (KINDS.md, "Python packages already there") that the device path imports; the
# venv gets them, and what they require, from this machine's environment.
IMAGE_ROOTS = ("torch", "torchvision", "pillow", "numpy", "pandas", "pyarrow", "requests", "tabulate", "pip")
CORE_STEPS = ["install", "golden_bf16", "golden_fp32", "build", "self_checks", "workload", "warmup", "engine"]
SELF_CHECK_KEYS = {"name", "device", "dtype", "shapes", "max_abs_diff", "tolerance", "verdict", "fallback",
                   "seconds", "detail"}


def require_pypi() -> None:
    """Skip (fail under CI=true) when PyPI cannot be reached: the test downloads wheels and transformers."""
    try:
        urllib.request.urlopen("https://pypi.org/simple/transformers/", timeout=15).close()
    except OSError as exc:
        reason = f"PyPI is unreachable ({exc}): the device bundle test downloads wheels and transformers 5.17"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


def closure(roots) -> set[str]:
    """``roots`` and every distribution they require (extras and environment markers evaluated), as installed."""
    seen: set[str] = set()
    todo = [(name, ()) for name in roots]
    while todo:
        name, extras = todo.pop()
        key = canonicalize_name(name)
        if key in seen:
            continue
        seen.add(key)
        for line in md.distribution(name).requires or []:
            req = Requirement(line)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in ("", *extras)):
                todo.append((req.name, tuple(req.extras)))
    return seen


def link_image_packages(site: Path) -> None:
    """Symlink the top-level entries (packages, modules, .libs, dist-info) of the image's distributions."""
    site.mkdir()
    for name in closure(IMAGE_ROOTS):
        dist = md.distribution(name)
        tops = {Path(f).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops - {"__pycache__"}:
            source = Path(dist.locate_file(top))
            if source.exists() and not (site / top).exists():
                (site / top).symlink_to(source)


def image_like_venv(root: Path) -> Path:
    """A venv with the image's packages linked in and transformers 5.17 from PyPI; returns its python."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    link_image_packages(root / "image_site")
    (Path(purelib) / "image_packages.pth").write_text(f"{root / 'image_site'}\n")
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                           "transformers==5.17.*"], capture_output=True, text=True, env=clean_env(venv))
    assert done.returncode == 0, done.stdout + done.stderr
    return python


def clean_env(venv: Path, offline: bool = False) -> dict[str, str]:
    """This process's environment without its Python paths and pip settings, the venv first on PATH; ``offline``:
    no pip configuration at all, as on the device (no index, no extra find-links)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PIP_FIND_LINKS", "PIP_CONSTRAINT")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    if offline:
        env["PIP_CONFIG_FILE"] = os.devnull
    return env


@pytest.mark.device_bundle
def test_bundle_installs_offline_and_the_dry_run_reports_the_core(tmp_path, golden_dir):
    require_pypi()
    bundle = tmp_path / "bundle"
    built = subprocess.run(["bash", str(SCRIPTS / "device_bundle.sh"), "--python-version", "3.11", "--out",
                            str(bundle), "--python", sys.executable, "--golden", str(golden_dir)],
                           capture_output=True, text=True, cwd=REPO, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    wheels = sorted(p.name.split("-")[0] for p in (bundle / "wheels").iterdir())
    assert wheels == ["antlr4_python3_runtime", "awaker_eval", "hydra_core", "omegaconf", "qwen_vl_utils"]
    assert sorted(p.name for p in (bundle / "awaker_golden").iterdir()) == sorted(p.name for p in golden_dir.iterdir())
    size_mib = float(built.stdout.split("MiB (Python 3.11)")[0].split(": ")[-1])
    assert 3 < size_mib < 16  # the golden copy (3.5 MiB) and < 1 MiB of wheels; the limit is 64 MiB with the tree

    python = image_like_venv(tmp_path)
    out = tmp_path / "out"
    run = subprocess.run(["bash", str(SCRIPTS / "gpu_checks.sh"), "--tiny", "--bundle", str(bundle)], cwd=REPO,
                         capture_output=True, text=True, timeout=420,
                         env={**clean_env(python.parent.parent, offline=True), "OUT": str(out)})
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert f"imports ok: {python.parent.parent}" in run.stdout  # the bundle's wheel, installed in the venv
    assert "transformers 5.17." in run.stdout

    report = json.loads((out / "device_core.json").read_text())
    assert report["status"] == "ok" and list(report["steps"]) == CORE_STEPS
    assert report["transformers"].startswith("5.17.") and report["python"].startswith("3.11.")
    steps = report["steps"]
    for dtype, run_name in (("bf16", "bf16"), ("fp32", "fp32")):
        golden = steps[f"golden_{dtype}"]
        assert (golden["verdict"], golden["failed"]) == ("PASS", 0) and golden["checks"] >= 100
        assert all(row["ok"] and row["run"] == run_name for row in golden["summary"])
    route = next(r for r in steps["golden_fp32"]["summary"] if r["check"] == "forward/route_expert")
    assert route["value"] == "agree 40/40" and route["tolerance"] == "exact"

    checks = steps["self_checks"]
    assert checks["policy"] == "fallback" and checks["checks"] == len(checks["records"])
    assert [r["name"] for r in checks["records"]] == [
        "vision_attention_batched", "vision_reuse", "fused_epilogue", "routing_once_per_call",
        "choice_right_padding", "generate_right_padding"]
    for record in checks["records"]:  # the tiny shape on the CPU: every path matches its reference
        assert set(record) == SELF_CHECK_KEYS and record["verdict"] == "pass" and record["device"] == "cpu"

    engine = steps["engine"]
    shipped = yaml.safe_load((REPO / "conf/runner/gpu.yaml").read_text())
    assert {k: engine["settings"][k] for k in ("mode", "batch_size", "max_batch_visual_tokens")} == {
        k: shipped[k] for k in ("mode", "batch_size", "max_batch_visual_tokens")}
    assert engine["settings"]["max_new_tokens"] == 16 and engine["failed"] == 0
    assert engine["questions"] == 6 and engine["samples_per_s"] > 0
    assert engine["vision"] == {"vision_images_encoded": 3, "vision_images_reused": 3}
    hours = engine["projection"]["full_en_run_h"]
    assert hours == pytest.approx(23609 * engine["engine_s"] / engine["questions"] / 3600, rel=0.01, abs=0.001)
    assert report["peak_rss_gib"]["self"] > 0.1 and 0 < report["core_s"] < 300
    assert all(v["skipped"].startswith("--tiny") for v in report["optional"].values())
    assert [line.split()[1] for line in run.stdout.splitlines() if line.startswith("time ")][:9] == [
        "install", "install", *CORE_STEPS[1:]]  # the shell's line, then the core's, one per step
    assert "engine" in run.stdout.split("step ")[-1]  # the closing table


def test_a_failed_install_stops_the_check_with_its_message(tmp_path):
    run = subprocess.run(["bash", str(SCRIPTS / "gpu_checks.sh"), "--tiny", "--bundle", str(tmp_path / "none")],
                         cwd=REPO, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "OUT": str(tmp_path / "out"), "PIP_CONFIG_FILE": os.devnull})
    assert run.returncode == 1
    assert run.stdout.startswith("FAILED: install: ") and "requirements.txt" in run.stdout
    assert not (tmp_path / "out" / "device_core.json").exists()  # nothing after the failed step ran


def test_optional_stages_that_do_not_fit_the_slot_are_skipped_and_said_so(tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))
    import device_stages

    report = tmp_path / "device_core.json"
    report.write_text(json.dumps({"status": "ok", "core_s": 250.0, "budget_s": 300.0, "steps": {
        "golden_bf16": {"verdict": "PASS", "checks": 130, "failed": 0, "seconds": 3.0}}}))
    assert device_stages.main(["--report", str(report), "--left-s", "80", "--logs", str(tmp_path),
                               "--work", str(tmp_path / "work")]) == 0
    optional = json.loads(report.read_text())["optional"]
    assert optional == {"awaker_tiny_bs": {"skipped": "needs ~90 s, 80 s left of the slot"},
                        "perf_7b": {"skipped": "needs ~180 s, 80 s left of the slot"},
                        "perf_tiny": {"skipped": "needs ~90 s, 80 s left of the slot"}}
    table = capsys.readouterr().out.split("step ")[-1]
    assert "golden_bf16" in table and "PASS (130 checks, 0 failed)" in table
    assert "core 250.0 s of 300.0 s (ok)" in table
    sys.modules.pop("device_stages", None)


@pytest.fixture
def device_core(monkeypatch):
    """The core script's module, imported from scripts/ and unloaded afterwards."""
    monkeypatch.syspath_prepend(str(SCRIPTS))
    import device_core

    yield device_core
    for name in ("device_core", "awaker7b_setup"):
        sys.modules.pop(name, None)


def test_a_failed_core_step_stops_the_core_and_is_recorded(device_core, tmp_path, capsys):
    out = tmp_path / "core.json"
    assert device_core.main(["--tiny", "--golden", str(tmp_path / "none"), "--out", str(out)]) == 1
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("FAILED: golden_bf16: GoldenFormatError: ") and "config.json: missing" in last
    report = json.loads(out.read_text())
    assert report["status"] == "failed: golden_bf16" and list(report["steps"]) == ["install", "golden_bf16"]


def test_self_check_records_are_kept_whatever_their_verdict(device_core, monkeypatch):
    """A failing fast path falls back and the step goes on: its record says what runs instead."""
    from awaker_eval.config.schema import ModelConfig
    from awaker_eval.models.self_checks import Probe, SelfCheck

    monkeypatch.setattr(device_core, "padding_checks", lambda model, mode, generation: [])

    def broken():
        raise RuntimeError("triton compile failed")

    class Model:
        cfg = ModelConfig()

        def self_checks(self, mode, reuse_vision, generation):
            return [SelfCheck("fused_epilogue", "cpu", "float32", lambda: Probe(0.0, 0.0, shapes=[2, 3]),
                              lambda: "torch reference"),
                    SelfCheck("vision_attention", "cpu", "float32", broken, lambda: "stock attention")]

    result = device_core.self_checks(Model())
    assert (result["policy"], result["checks"], result["verdicts"]) == ("fallback", 2, {"pass": 1, "error": 1})
    passed, failed = result["records"]
    assert (passed["name"], passed["verdict"], passed["fallback"], passed["shapes"]) == (
        "fused_epilogue", "pass", None, [2, 3])
    assert (failed["verdict"], failed["fallback"]) == ("error", "stock attention")
    assert failed["detail"] == "RuntimeError: triton compile failed"


def test_a_golden_fail_stops_the_core_with_its_failing_rows(device_core, tmp_path, capsys, monkeypatch):
    from awaker_eval.models.awaker.golden_checks import CheckRow

    rows = [CheckRow("bf16", "s0_img", "forward/route_expert", 0, 40, None, True),
            CheckRow("bf16", "s0_img", "forward/logits_last", 0.9, 100, 0.25, False)]
    monkeypatch.setattr(device_core, "verify", lambda *args: (rows, []))
    out = tmp_path / "core.json"
    assert device_core.main(["--tiny", "--golden", str(tmp_path), "--out", str(out)]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == (
        "FAILED: golden_bf16: StepFailed: verify-golden bfloat16: 1 of 2 checks failed")
    golden = json.loads(out.read_text())["steps"]["golden_bf16"]
    assert (golden["verdict"], golden["checks"], golden["failed"]) == ("FAIL", 2, 1)
    assert golden["summary"][1] == {"run": "bf16", "check": "forward/logits_last", "cases": 1, "value": "0.9",
                                    "tolerance": "0.25", "worst_case": "s0_img", "ok": False}
