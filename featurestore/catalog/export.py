"""`featurestore ui --export DIR`: the catalog as static HTML, the same pages the server
renders, to publish anywhere (a CI artifact, an internal site).

An export only ever replaces what an export wrote. DIR must be new, empty, or a previous
export: one holding MANIFEST (the list of files that export wrote) and no other file. The
pages are written into a new folder beside DIR, which then takes DIR's place in one step
(Linux's renameat2 RENAME_EXCHANGE; elsewhere two renames), and the previous export is
removed afterwards, so a reader of DIR sees the old catalog or the new one, never half of
one, and a failed export leaves DIR as it was. A DIR that is a symbolic link, a file, or
a folder holding anything else is refused, naming what is in the way.
"""
from __future__ import annotations

import ctypes
import os
import shutil
import tempfile
from pathlib import Path

from featurestore.catalog import pages
from featurestore.errors import FeatureStoreError

MANIFEST = ".featurestore-export"


def export(registry, folder: str | Path, warehouse=None) -> int:
    """Write every page under `folder` (replacing a previous export there); returns the page count."""
    folder = _checked_target(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        written = []
        for path, html in pages.all_pages(registry, warehouse):
            target = staging / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(html, encoding="utf-8")
            written.append(path)
        (staging / MANIFEST).write_text("".join(f"{path}\n" for path in sorted(written)), encoding="utf-8")
        os.chmod(staging, 0o755)  # mkdtemp's 0700 would hide the pages from a web server
        if folder.exists():
            _exchange(staging, folder)  # staging now holds the previous export
            shutil.rmtree(staging)
        else:
            staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return len(written)


def _checked_target(given) -> Path:
    """The folder to export into, refused unless new, empty or a previous export and nothing else."""
    if not str(given).strip():
        raise FeatureStoreError("--export needs a folder name, e.g. --export site/")
    path = Path(given).expanduser()
    if path.is_symlink():
        raise FeatureStoreError(f"{path} is a symbolic link; give the folder itself (an export never writes "
                                f"through a link)")
    folder = path.resolve()
    if folder.exists() and not folder.is_dir():
        raise FeatureStoreError(f"{folder} is a file, not a folder; give a new or empty folder for the export")
    if not folder.exists() or not any(folder.iterdir()):
        return folder
    manifest = folder / MANIFEST
    if not manifest.is_file():
        raise FeatureStoreError(f"{folder} holds files no export wrote (it has no {MANIFEST}); give a new or empty "
                                f"folder: an export replaces only a previous export")
    ours = set(manifest.read_text(encoding="utf-8").splitlines()) | {MANIFEST}
    for entry in folder.rglob("*"):
        relative = entry.relative_to(folder).as_posix()
        if entry.is_symlink() or (entry.is_file() and relative not in ours):
            raise FeatureStoreError(f"{folder} holds {relative}, which the previous export did not write; move it "
                                    f"away first (an export never deletes a file it did not write)")
    return folder


def _exchange(a: Path, b: Path) -> None:
    """Swap two folders in one step where the system can (Linux), else by two renames."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        renameat2 = None
    if renameat2 is not None:
        at_fdcwd, rename_exchange = -100, 2
        if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
            return
    aside = a.with_name(a.name + "-previous")
    b.rename(aside)
    a.rename(b)
    aside.rename(a)
