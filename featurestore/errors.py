"""Every error featurestore raises, in one place.

Each class also subclasses the matching builtin (ValueError, KeyError, ...) so callers
can catch either:

>>> try:
...     raise NotFoundError("no feature view named 'stat'. Did you mean 'stats'?")
... except KeyError as error:  # a NotFoundError is a KeyError, printed without KeyError's quotes
...     print(error)
no feature view named 'stat'. Did you mean 'stats'?

Messages say what is wrong, where, and how to fix it; the CLI prints
them as one line.
"""


class FeatureStoreError(Exception):
    """Base of all featurestore errors."""


class ConfigError(FeatureStoreError, ValueError):
    """feature_store.yaml is malformed or holds a wrong or unknown setting."""


class DefinitionError(FeatureStoreError, ValueError):
    """A definition (entity, source, view, service) was constructed with bad arguments."""


class RepoError(FeatureStoreError, ValueError):
    """A feature repo could not be loaded: a file fails to import or names clash."""


class ValidationError(FeatureStoreError, ValueError):
    """A definition does not match the real table, path or query it points at."""


class RegistryError(FeatureStoreError, RuntimeError):
    """registry.db is unreadable, corrupt or from a newer version."""


class RegistryConflictError(RegistryError):
    """Another writer changed the registry in a way that conflicts with this write."""


class NotFoundError(FeatureStoreError, KeyError):
    """A named object (view, feature, entity, service, source) does not exist.

    feast_class names the exception of feast.errors that Feast raises for it, which the feature
    server answers (featurestore.serving.api.error_json) with Feast's status for it, 404.
    """

    def __init__(self, message: str = "", feast_class: str = "FeastObjectNotFoundException"):
        super().__init__(message)
        self.feast_class = feast_class

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


class RetrievalError(FeatureStoreError, ValueError):
    """A training-set request is malformed: missing keys, timestamp, or clashing names."""


class OnlineStoreError(FeatureStoreError, RuntimeError):
    """The online store is unreachable, locked, read-only or otherwise failed."""


class MaterializationError(FeatureStoreError, RuntimeError):
    """Materialization of a view failed; no interval was recorded."""


class DefinitionChangedError(MaterializationError):
    """A writer's definition was changed by an apply while it ran: it wrote nothing more and
    recorded nothing (featurestore.identity). Running it again uses the new definition."""


class SparkSetupError(FeatureStoreError, RuntimeError):
    """Spark cannot start as configured, e.g. the Delta jars are missing."""


def did_you_mean(name: str, candidates) -> str:
    """A ' Did you mean X?' suffix for the closest candidate, or '' when none is close.

    >>> did_you_mean("driver_stat", ["driver_stats", "trips"])
    " Did you mean 'driver_stats'?"
    >>> did_you_mean("weather", ["driver_stats", "trips"])
    ''
    """
    import difflib

    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def unknown_feature(owner: str, name: str, features) -> str:
    """The message for a reference to a feature the view does not have. The error is raised at
    the reference, but a field renamed in the view is as likely a cause: both fixes are named.

    >>> unknown_feature("view 's'", "rate", ["rat"])  # doctest: +NORMALIZE_WHITESPACE
    "view 's' has no feature 'rate' (its features: rat). Did you mean 'rat'? If the view's field 'rat' was
    renamed by mistake, name it 'rate' again in the view's schema."
    """
    import difflib

    features = list(features)
    message = f"{owner} has no feature {name!r} (its features: {', '.join(features) or 'none'})."
    close = difflib.get_close_matches(name, features, n=1, cutoff=0.6)
    if close:
        message += (f" Did you mean {close[0]!r}? If the view's field {close[0]!r} was renamed by mistake, name it "
                    f"{name!r} again in the view's schema.")
    return message


class ExpectationError(MaterializationError):
    """Materialization refused: rows break the view's expectations (one line per broken rule)."""


def raised_on_executor(error: BaseException, kind: str = "") -> tuple[str, str] | None:
    """(class name, message) of the featurestore error a Spark executor raised, read from
    the text of the exception Spark raises on the driver; None when no such line is in it.

    kind: only that error class (e.g. "RetrievalError").
    """
    marker = f"featurestore.errors.{kind}"
    for line in str(error).splitlines():
        if marker in line:
            name, _, message = line.split("featurestore.errors.", 1)[1].partition(": ")
            return name.strip(), message.strip()
    return None
