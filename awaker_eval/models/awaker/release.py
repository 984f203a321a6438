"""What the Awaker2.5-VL release is made of on the hub (the base model's non-weight files, the single-file
checkpoint) and the revision ids it is fetched at. Light (no torch): ``prepare`` plans downloads with it."""

from __future__ import annotations

import re
from pathlib import Path

from huggingface_hub import HfApi, constants

from awaker_eval.models.loading import CheckpointNotFound

RELEASED_FILE = "pytorch_model.bin"  # the released single-file checkpoint
BASE_FILES = ["*.json", "*.txt", "*.jinja", "*.model"]
_SHORT_SHA = re.compile(r"[0-9a-f]{7,39}")


def full_revision(repo: str, revision: str | None) -> str | None:
    """A short commit id (``0e6c388``) expanded to the full 40-hex id the hub requires; other revisions as given.

    Online from the repo's commit list; offline from the snapshot folders of the local hub cache. When neither knows
    it, the revision is returned unchanged and the download reports the problem."""
    if revision is None or not _SHORT_SHA.fullmatch(revision):
        return revision
    try:
        known = [c.commit_id for c in HfApi().list_repo_commits(repo)]
    except Exception:  # offline: the snapshots already downloaded
        snapshots = Path(constants.HF_HUB_CACHE) / f"models--{repo.replace('/', '--')}" / "snapshots"
        known = [d.name for d in snapshots.iterdir()] if snapshots.is_dir() else []
    matches = sorted({c for c in known if c.startswith(revision)})
    if len(matches) > 1:
        raise CheckpointNotFound(f"{repo}: revision {revision!r} matches {len(matches)} commits {matches}; "
                                 f"pass more of the commit id")
    return matches[0] if matches else revision


