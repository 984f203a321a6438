#!/usr/bin/env bash
# The model-path tests on the lowest supported transformers (pyproject's lower bound; what the GPU machines run).
# Usage: [LOWEST_VENV=DIR] .ci/lowest_transformers.sh MAIN_PYTHON [extra pytest args]
#   MAIN_PYTHON: the python of the venv the project and its test extra are installed into.
# A second venv beside that one reuses its packages (torch, the editable project, ...) through a .pth file;
# only transformers at the lower bound, and what that version needs at other versions, is installed into it.
set -euo pipefail
main_python=${1:?usage: .ci/lowest_transformers.sh MAIN_PYTHON [extra pytest args]}
shift
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1}

lower=$("$main_python" - <<'EOF'
import tomllib
from packaging.requirements import Requirement

deps = [Requirement(d) for d in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]]
(req,) = [r for r in deps if r.name == "transformers"]
(low,) = [s.version for s in req.specifier if s.operator == ">="]
print(low)
EOF
)

# $LOWEST_VENV, or beside the main venv: <venv>-transformers-lowest (a temporary folder when MAIN_PYTHON is no
# venv's); it is made anew on each run
venv=${LOWEST_VENV:-$("$main_python" -c 'import os, sys, tempfile
print(sys.prefix + "-transformers-lowest" if sys.prefix != sys.base_prefix
      else os.path.join(tempfile.gettempdir(), "awaker-eval-transformers-lowest"))')}

"$main_python" -m venv --clear "$venv"
site=$("$venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
# addsitedir (not a bare path line) so the main venv's own .pth files (the editable project) apply too;
# it appends, so this venv's packages (the older transformers) come first on sys.path
"$main_python" -c 'import site
for d in site.getsitepackages():
    print(f"import site; site.addsitedir({d!r})")' > "$site/zz_main_venv.pth"

"$venv/bin/python" -m pip install -q --disable-pip-version-check "transformers==$lower"
"$venv/bin/python" - "$lower" <<'EOF'
import sys

import torch
import transformers
from packaging.version import Version

print(f"lowest supported transformers: {transformers.__version__} ({transformers.__file__}), torch {torch.__version__}")
if Version(transformers.__version__) != Version(sys.argv[1]):
    sys.exit(f"expected transformers {sys.argv[1]}, the lower bound in pyproject.toml")
EOF

tests=(
  tests/test_transformers_versions.py
  tests/test_tiny_model.py
  tests/test_awaker_backend.py
  tests/test_awaker_e2e.py
  tests/test_awaker_decode_routing.py
  tests/test_awaker_epilogue.py
  tests/test_awaker_fast_mode.py
  tests/test_awaker_router.py
  tests/test_awaker_prompt_pos.py
  tests/test_awaker_verify.py
  tests/test_choice_padding.py
  tests/test_generate_padding.py
  tests/test_vision_attention.py
  tests/test_vision_reuse.py
  tests/test_engine_tiny.py
  tests/test_self_checks.py
)
"$venv/bin/python" -m pytest -q -p no:cacheprovider "${tests[@]}" "$@"
