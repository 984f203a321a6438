#!/usr/bin/env bash
# Builds the device bundle (here, with PyPI reachable) that travels to a lent GPU machine beside the checkout
# (run(carry=[".device"])), where scripts/gpu_checks.sh installs it offline:
#   wheels/                     the packages of scripts/device_requirements*.txt for the target Python (manylinux
#                               x86_64; a package with only an sdist is built here into its pure-Python wheel) and
#                               this project's wheel
#   requirements.txt            installed with their dependencies resolved (all in wheels/ or on the image)
#   requirements-nodeps.txt     installed without them (why: the file's comments)
#   awaker_golden/              a copy of the golden fixture (../shared/awaker_golden)
# It prints the bundle's size and what would travel in all, and fails when that passes the 64 MiB limit.
#   bash scripts/device_bundle.sh [--python-version 3.12] [--out .device] [--python python3] [--golden DIR]
# The GPU image runs Python 3.12; a test on this machine builds a bundle for its own Python (3.11).
set -euo pipefail
PYV=3.12 DEST=.device PY=python3 GOLDEN=../shared/awaker_golden LIMIT_MIB=64
while (($#)); do
  case $1 in
    --python-version) PYV=$2; shift 2 ;;
    --out) DEST=$2; shift 2 ;;
    --python) PY=$2; shift 2 ;;
    --golden) GOLDEN=$2; shift 2 ;;
    *) echo "usage: bash scripts/device_bundle.sh [--python-version X.Y] [--out DIR] [--python PY] [--golden DIR]" >&2
       exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
requirements() { sed -e 's/#.*//' -e 's/[[:space:]]*$//' "$1" | grep -v '^$' | grep -v '^awaker-eval$' || true; }
LOG=$(mktemp)
pip_q() { "$PY" -m pip "$@" -q --disable-pip-version-check > "$LOG" 2>&1 || { cat "$LOG" >&2; return 1; }; }

rm -rf "$DEST/wheels" "$DEST/awaker_golden"
mkdir -p "$DEST/wheels"
for req in $(requirements scripts/device_requirements.txt) $(requirements scripts/device_requirements_nodeps.txt); do
  name=${req%%==*}
  pip_q download --no-deps --only-binary=:all: --python-version "$PYV" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 -d "$DEST/wheels" "$req" 2> /dev/null || true  # no wheel: built below
  if ! ls "$DEST/wheels" | grep -qi "^${name//-/_}-"; then  # only an sdist: build it (must be pure Python)
    pip_q wheel --no-deps --no-build-isolation --no-binary "$name" -w "$DEST/wheels" "$req"
    ls "$DEST/wheels" | grep -qi "^${name//-/_}-.*-none-any\.whl$" ||
      { echo "device_bundle: no wheel for $req that installs on Python $PYV" >&2; exit 1; }
  fi
done
pip_q wheel --no-deps --no-build-isolation -w "$DEST/wheels" .
ls "$DEST/wheels"/awaker_eval-*.whl > /dev/null
cp scripts/device_requirements.txt "$DEST/requirements.txt"
cp scripts/device_requirements_nodeps.txt "$DEST/requirements-nodeps.txt"
cp -r "$GOLDEN" "$DEST/awaker_golden"
chmod -R u+w "$DEST/awaker_golden"  # the shared copy is read-only; the next build replaces this one

bundle_b=$(du -sb "$DEST" | cut -f1)
tree_b=$(git ls-files -z -co --exclude-standard | du -cb --files0-from=- 2>/dev/null | tail -n 1 | cut -f1)
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
ls -l "$DEST/wheels" | awk 'NR > 1 { printf "  %8.1f KiB  %s\n", $5 / 1024, $9 }'
echo "bundle $DEST: $(mib "$bundle_b") MiB (Python $PYV); with the working tree $(mib $((bundle_b + tree_b))) MiB" \
     "of the $LIMIT_MIB MiB that may travel"
if ((bundle_b + tree_b > LIMIT_MIB * 1048576)); then
  echo "device_bundle: over the $LIMIT_MIB MiB limit" >&2
  exit 1
fi
