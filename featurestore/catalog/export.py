"""`featurestore ui --export DIR`: the catalog as static HTML, the same pages the server
renders, to publish anywhere (a CI artifact, an internal site). Written into a new
folder beside DIR and then moved into place, so a failed export leaves no half catalog."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from featurestore.catalog import pages
from featurestore.errors import FeatureStoreError


def export(registry, folder: str | Path, warehouse=None) -> int:
    """Write every page under `folder` (replacing a previous export there); returns the page count."""
    folder = Path(folder).resolve()
    if folder.exists() and any(folder.iterdir()) and not (folder / "index.html").exists():
        raise FeatureStoreError(f"{folder} is a folder with other files in it, not a catalog export; give a new "
                                f"or empty folder (an export replaces only a previous export)")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        count = 0
        for path, html in pages.all_pages(registry, warehouse):
            target = staging / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(html, encoding="utf-8")
            count += 1
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return count
