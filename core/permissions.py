"""Data at rest on this machine: the data directory (bronze and silver hold unmasked personal data, the source
database, logs, users) readable by its owner only."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from core.settings import Settings

log = logging.getLogger(__name__)

OWNER_ONLY_UMASK = 0o077  # files and directories created afterwards get no group or other bits


def private_paths(settings: Settings) -> list[Path]:
    """What holds personal data or secrets locally: the data directory, the lakehouse and its checkpoints (they may
    live elsewhere), and a SQLite source database."""
    paths = [settings.data_dir, settings.lakehouse_dir, settings.checkpoints]
    if not settings.source_db_is_jdbc:
        paths.append(settings.source_db_path)
    return list(dict.fromkeys(paths))


def _restrict(path: Path, uid: int) -> int:
    """chmod one path to its owner's bits alone (directories keep x for the owner); returns 1 when it changed."""
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode) or st.st_uid != uid or not st.st_mode & 0o077:
        return 0  # never follow a link out of the tree, nor touch what another user owns
    path.chmod(stat.S_IMODE(st.st_mode) & 0o700)
    return 1


def restrict_to_owner(paths: Iterable[Path]) -> int:
    """Remove group and other permissions from each path and everything under it; returns how many were changed."""
    uid = os.geteuid()
    changed = 0
    for root in paths:
        if not root.exists():
            continue
        changed += _restrict(root, uid)
        if root.is_dir() and not root.is_symlink():
            for parent, dirs, files in os.walk(root):
                for name in (*dirs, *files):
                    changed += _restrict(Path(parent, name), uid)
    if changed:
        log.info("made %d file(s) and directories readable by their owner only", changed)
    return changed


def make_private(settings: Settings) -> int:
    """Before the local stack starts: the data directory exists and is owner-only, and so is all it will write."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    os.umask(OWNER_ONLY_UMASK)
    return restrict_to_owner(private_paths(settings))
