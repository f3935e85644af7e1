"""Feast's repo-level objects that describe rather than define features: Project and a
FeatureService's LoggingConfig. Accepted so that Feast repos load with their imports
changed; what each one does here is said in its docstring."""
from __future__ import annotations

from featurestore.definitions._checks import check_name, check_str, check_tags
from featurestore.errors import DefinitionError


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


class FileLoggingDestination:
    """A folder for a feature service's logged features (Feast's FileLoggingDestination)."""

    def __init__(self, *, path: str, **_options):
        self.path = check_str("FileLoggingDestination", "path", path, allow_empty=False)

    def __repr__(self) -> str:
        return f"FileLoggingDestination(path={self.path!r})"


class LoggingConfig:
    """Feast's feature logging settings for a FeatureService. featurestore keeps the
    destination in the registry but does not log served features yet: apply warns once
    per service, so nobody waits for logs that never come."""

    def __init__(self, *, destination, sample_rate: float = 1.0):
        if not isinstance(destination, FileLoggingDestination):
            raise DefinitionError(f"LoggingConfig: destination must be a FileLoggingDestination, got {destination!r}")
        if not isinstance(sample_rate, (int, float)) or not 0 < sample_rate <= 1:
            raise DefinitionError(f"LoggingConfig: sample_rate must be in (0, 1], got {sample_rate!r}")
        self.destination = destination
        self.sample_rate = float(sample_rate)

    def __repr__(self) -> str:
        return f"LoggingConfig(destination={self.destination!r}, sample_rate={self.sample_rate})"
