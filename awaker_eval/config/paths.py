"""Where the Hydra config folder is: ``conf/`` beside the package (a checkout, or ``pip install -e .``)."""

from pathlib import Path

CONF_DIR = Path(__file__).resolve().parent.parent.parent / "conf"
