#!/usr/bin/env bash
# The device check, from the repository root on a lent H100/H200, with the bundle that scripts/device_bundle.sh built
# here carried beside the checkout (run(carry=[".device"])). Stops at the first failed step with
# "FAILED: <step>: <last lines of its log>".
#   install    the bundle's wheels, offline (pip skips what the image already has), then an import check
#   core       scripts/device_core.py: verify-golden bf16 + fp32, self-checks, the shipped engine setting at the 7B
#              shape; 300 s at most by its own budget, install included, so that a rerun fits the session
#   optional   scripts/device_stages.py: the stages that fit in what is left of the slot, each skipped with a line
#              saying so; then the closing table. Results: $OUT/device_core.json (written after every step).
#   bash scripts/gpu_checks.sh [--slot-s 330] [--only core|optional] [--bundle .device] [--tiny]
# --tiny: the CPU dry run of the same flow (tiny shape, --device cpu; no optional stage).
set -euo pipefail
SLOT_S=330 ONLY=all BUNDLE=.device CORE_ARGS=() SKIP=()
while (($#)); do
  case $1 in
    --slot-s) SLOT_S=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --bundle) BUNDLE=$2; shift 2 ;;
    --tiny) CORE_ARGS=(--tiny --device cpu); SKIP=(--skip-all "--tiny: the dry run covers the core only"); shift ;;
    *) echo "usage: bash scripts/gpu_checks.sh [--slot-s S] [--only core|optional] [--bundle DIR] [--tiny]" >&2
       exit 2 ;;
  esac
done
STARTED=$(date +%s.%N)  # the core's 300-s budget counts from here
OUT=${OUT:-/tmp/gpu_out}
WORK=$(mktemp -d /tmp/gpu_checks.XXXXXX)  # caches and scratch files: $OUT comes back, so it holds only results
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
fail() { echo "FAILED: $1: $(tail -n 20 "$2")"; exit 1; }
pip_offline() { python3 -m pip install --no-index --find-links "$BUNDLE/wheels" --no-cache-dir --no-compile "$@"; }

{ pip_offline -r "$BUNDLE/requirements.txt" &&
  pip_offline --no-deps --force-reinstall -r "$BUNDLE/requirements-nodeps.txt" &&
  (cd /tmp && python3 -c "import hydra, omegaconf, qwen_vl_utils, awaker_eval.cli, torch, transformers
print('imports ok:', awaker_eval.__file__, 'torch', torch.__version__, 'transformers', transformers.__version__)")
} > "$OUT/install.log" 2>&1 || fail install "$OUT/install.log"
INSTALL_S=$SECONDS
echo "time install       ${INSTALL_S} s   $(tail -n 1 "$OUT/install.log")"
if [[ $ONLY != optional ]]; then
  set +e
  timeout 400 python3 scripts/device_core.py "${CORE_ARGS[@]}" --golden "$BUNDLE/awaker_golden" \
    --out "$OUT/device_core.json" --cache-dir "$WORK/cache" --started-at "$STARTED" --install-s "$INSTALL_S" \
    2>&1 | tee "$OUT/core.log"
  status=${PIPESTATUS[0]}
  set -e
  if ((status != 0)); then  # the core names its failed step in its last line; a kill at 400 s does not
    tail -n 1 "$OUT/core.log" | grep -q '^FAILED: ' && exit 1
    why="exit $status"; ((status == 124)) && why+=", killed at its 400 s limit"
    fail "core ($why)" "$OUT/core.log"
  fi
fi
[[ $ONLY == core ]] && SKIP=(--skip-all "--only core")
python3 scripts/device_stages.py "${SKIP[@]}" --report "$OUT/device_core.json" \
  --left-s $((SLOT_S - SECONDS)) --logs "$OUT" --work "$WORK"
