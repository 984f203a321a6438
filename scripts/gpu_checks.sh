#!/usr/bin/env bash
# The prepared GPU session (run from the repository root on a lent H100/H200), most important step first.
# Needs: wheels of the packages the GPU image lacks in .device/wheels, a copy of the golden fixture in
# .device/awaker_golden (both git-ignored, carried to the machine), and OUT (a folder for the logs).
# Each step is independent and time-boxed; a failing step does not stop the others. The whole session fits one
# 10-minute slot: a step whose limit would end past SLOT_S is skipped (and says so); the perf script keeps its own
# --budget-s under its step limit, so its JSON (written after each stage) always comes back.
set -u
SLOT_S=${SLOT_S:-570}
OUT=${OUT:-/tmp/gpu_out}
WORK=/tmp/gpu_work
mkdir -p "$OUT" "$WORK"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 PYTHONPATH=$PWD
step() { local name=$1 limit=$2; shift 2; echo "=== $name (t=${SECONDS}s)";
         if (( SECONDS + limit > SLOT_S )); then echo "skipped: ${limit}s limit would end past the ${SLOT_S}s slot"; return; fi
         timeout "$limit" "$@" > "$OUT/$name.log" 2>&1;
         echo "exit $? at t=${SECONDS}s"; grep -v -E "it/s\]|Loading weights|Writing model" "$OUT/$name.log" | tail -n 30; }
python3 -m pip install -q --no-deps --no-index .device/wheels/*.whl .device/wheels/*.tar.gz > "$WORK/pip.log" 2>&1
tail -n 3 "$WORK/pip.log"; nvidia-smi -L
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
step golden_bf16 100 python3 -m awaker_eval.cli verify-golden .device/awaker_golden --dtype bfloat16 --device cuda
step perf_7b 400 python3 scripts/gpu_perf_awaker7b.py --out "$OUT/gpu_perf.json" --cache-dir "$WORK/cache" --budget-s 340
for bs in 8 1; do
  step awaker_tiny_bs$bs 60 python3 -m awaker_eval model=awaker_tiny model.device=cuda runner.batch_size=$bs \
       runner.progress=false output_dir="$WORK/bs$bs" model.cache_dir="$WORK/cache" benchmark.cache_dir="$WORK/cache"
done
step bs1_vs_bs8 30 python3 - "$WORK" <<'PY'
import json, sys
rows = [[json.loads(l) for l in open(f"{sys.argv[1]}/{d}/predictions.jsonl")] for d in ("bs1", "bs8")]
same_text = sum(a["raw_output"] == b["raw_output"] for a, b in zip(*rows))
same_route = sum(a["routing"]["prefill"]["expert"] == b["routing"]["prefill"]["expert"] for a, b in zip(*rows))
print(f"bs1 vs bs8 on cuda: {len(rows[0])} samples, same text {same_text}, same prefill experts {same_route}")
PY
step golden_fp32 60 python3 -m awaker_eval.cli verify-golden .device/awaker_golden --dtype float32 --device cuda
step perf_tiny 90 python3 -m awaker_eval.cli perf --device cuda --workers 8 --cache-dir "$WORK/cache"
