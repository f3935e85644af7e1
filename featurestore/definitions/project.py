"""Feast's Project: the repo-level object that names what a repo's definitions belong to."""
from __future__ import annotations

from featurestore.definitions._checks import check_name, check_str, check_tags


class Project:
    """The project a repo's definitions belong to (Feast's `Project`). Its name must be
    feature_store.yaml's `project`: plan and apply refuse a repo where they differ, since
    definitions would otherwise land in a project their author did not name.

    >>> Project(name="driver_stats", description="A project for driver statistics")
    Project(name='driver_stats')
    """

    def __init__(self, *, name: str, description: str = "", tags: dict[str, str] | None = None):
        self.name = check_name("Project", name)
        self.description = check_str(f"Project {name!r}", "description", description)
        self.tags = check_tags(f"Project {name!r}", tags)

    def __repr__(self) -> str:
        return f"Project(name={self.name!r})"
