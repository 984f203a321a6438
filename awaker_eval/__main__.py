"""``python -m awaker_eval``: see awaker_eval.cli."""

import sys

from awaker_eval.cli import main

if __name__ == "__main__":
    sys.exit(main())
