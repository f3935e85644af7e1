"""feature_store.yaml -> RepoConfig, checked at load time.

A mistake (unknown or misspelled key, wrong type, missing value) fails here with the
key's path and its line in the file, instead of later inside Spark or a store.

Each online store's config class lives beside the store (featurestore.online.sqlite,
featurestore.online.redis_store); the map of `online_store.type` names to stores is
featurestore.online.STORE_TYPES, and only the type a repo uses is imported.
"""
from __future__ import annotations

import dataclasses
import math
import os
import re
from pathlib import Path
from typing import Any

import yaml

from featurestore import online
from featurestore.errors import ConfigError, did_you_mean

CONFIG_FILE = "feature_store.yaml"
_PROJECT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
# Feast's `registry:` mapping; cache_ttl_seconds: a SQL registry asks for its newest version at
# most once per that many seconds (0: on every access; a file is checked by one stat each time).
REGISTRY_KEYS = ("path", "registry_type", "cache_ttl_seconds")


def setting(default, *, low=None, high=None, above=None, nonempty=False, **field_kwargs):
    """A dataclass field whose value load_config range-checks: low <= v <= high, v > above,
    numbers finite, strings non-empty. For the config classes of stores, here and beside each
    online store."""
    return dataclasses.field(default=default, metadata={"low": low, "high": high, "above": above,
                                                        "nonempty": nonempty}, **field_kwargs)


@dataclasses.dataclass(frozen=True)
class SparkOfflineStoreConfig:
    """Where Spark keeps the warehouse and the embedded Derby metastore, plus conf overrides.

    spark_remote: a Spark Connect server (sc://HOST:PORT, see `make spark-up`) to run the
    Spark work on instead of starting a JVM in each process; the SPARK_REMOTE environment
    variable wins over it. Empty: a local session (featurestore.runtime.session.get_spark).
    """
    type: str = "spark"
    warehouse_dir: str = setting("data/spark-warehouse", nonempty=True)
    metastore_dir: str = setting("data/metastore_db", nonempty=True)
    spark_conf: dict = dataclasses.field(default_factory=dict)
    spark_remote: str = ""
    # The Hive catalog (docs/deployment.md): 'shared' (default) reaches metastore_dir through a
    # per-user Derby server started on demand, so any number of processes use the repo at once;
    # 'embedded' opens it in-process, one process at a time. metastore_url names another
    # catalog instead: jdbc:postgresql://HOST:PORT/DB (the team set-up) or thrift://HOST:PORT
    # (a Hive metastore service); metastore_password_env the variable holding its password.
    metastore: str = "shared"
    metastore_url: str = ""
    metastore_password_env: str = ""
    # The warm Spark (featurestore.runtime.warm_spark): 'cli' (default) runs the CLI's Spark work
    # on a Spark Connect server per repo, started on first use and stopped after
    # warm_spark_idle_seconds without a user; 'always' the Python API's too; 'off' a JVM per process
    # (YAML reads an unquoted off/false as a boolean: false is 'off', true 'cli').
    warm_spark: str | bool = "cli"
    warm_spark_idle_seconds: int = setting(900, above=0)


OFFLINE_STORE_CONFIGS = {"spark": SparkOfflineStoreConfig}
WARM_SPARK_MODES = ("cli", "always", "off")


@dataclasses.dataclass(frozen=True)
class ServeConfig:
    """`serve:`, the feature server's settings (`featurestore serve`; its options override them).

    api_key_env names the environment variable holding the API key: with it, every request
    but GET /health needs `Authorization: Bearer <key>`. The key itself is never in this
    file, nor in a log. workers: processes answering on the port (one per core is the usual
    choice for production)."""
    host: str = setting("127.0.0.1", nonempty=True)
    port: int = setting(6566, low=0, high=65535)  # Feast's feature server port
    workers: int = setting(1, low=1, high=256)
    api_key_env: str = ""
    max_rows: int = setting(10_000, low=1)
    max_body_bytes: int = setting(10 * 1024 * 1024, low=1)


def __getattr__(name: str):
    # SqliteOnlineStoreConfig and RedisOnlineStoreConfig used to be defined here; they are found
    # by name among the stores' config classes, importing a store's module only when asked (and
    # not for the dunder names the import system probes, such as __path__).
    if name.endswith("OnlineStoreConfig"):
        for type_name in online.STORE_TYPES:
            cls = online.config_class(type_name)
            if cls.__name__ == name:
                return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _default_online_store():
    return online.config_class("sqlite")()


@dataclasses.dataclass(frozen=True)
class RepoConfig:
    """A feature repo's settings; relative paths are resolved against repo_path."""
    project: str
    repo_path: Path
    registry: str = "data/registry.db"  # a file path, or a SQL URL when registry_type is 'sql'
    registry_type: str = "file"
    registry_cache_ttl_seconds: int = 0
    online_store: Any = dataclasses.field(default_factory=_default_online_store)  # a store's config_class
    offline_store: SparkOfflineStoreConfig = dataclasses.field(default_factory=SparkOfflineStoreConfig)
    # quality.thresholds: the drift thresholds `featurestore validate` starts from (its
    # --threshold options override them one by one); checked here, at load time.
    quality_thresholds: dict = dataclasses.field(default_factory=dict)
    serve: ServeConfig = dataclasses.field(default_factory=ServeConfig)

    def resolve(self, path: str) -> Path:
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else (self.repo_path / candidate).resolve()

    @property
    def registry_path(self) -> Path:
        return self.resolve(self.registry)

    @property
    def warehouse_dir(self) -> Path:
        return self.resolve(self.offline_store.warehouse_dir)

    @property
    def metastore_dir(self) -> Path:
        return self.resolve(self.offline_store.metastore_dir)


class _Lines:
    """Line numbers of the keys of a YAML document, by dotted path."""

    def __init__(self, text: str, file: Path):
        self.file = file
        self.by_path: dict[str, int] = {}
        node = yaml.compose(text)
        if node is not None:
            self._walk(node, "")

    def _walk(self, node, prefix):
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                path = f"{prefix}{key_node.value}"
                self.by_path[path] = key_node.start_mark.line + 1
                self._walk(value_node, path + ".")

    def where(self, path: str) -> str:
        line = self.by_path.get(path)
        return f"{self.file}:{line}" if line else str(self.file)


def _check_section(cls, raw, path: str, lines: _Lines, default_type: str | None = None):
    """Build a config dataclass from a mapping, rejecting unknown keys and wrong types."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{lines.where(path)}: '{path}' must be a mapping of settings, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for key, value in raw.items():
        key_path = f"{path}.{key}"
        if key not in fields:
            raise ConfigError(f"{lines.where(key_path)}: unknown setting '{key_path}'."
                              f"{did_you_mean(str(key), fields)} Allowed: {', '.join(fields)}")
        expected = fields[key].type
        ok = {"str": isinstance(value, str),
              "int": isinstance(value, int) and not isinstance(value, bool),
              "float": isinstance(value, (int, float)) and not isinstance(value, bool),
              "bool": isinstance(value, bool),
              "dict": isinstance(value, dict)}.get(expected, True)
        if not ok:
            raise ConfigError(f"{lines.where(key_path)}: '{key_path}' must be {expected}, "
                              f"got {type(value).__name__} {value!r}")
        problem = _out_of_range(value, fields[key].metadata)
        if problem:
            raise ConfigError(f"{lines.where(key_path)}: '{key_path}' must be {problem}, got {value!r}")
        values[key] = value
    return cls(**values)


def _out_of_range(value, rules) -> str:
    """What `value` must be when it breaks the field's rules, else ''."""
    if not rules:
        return ""
    if isinstance(value, str):
        return "a non-empty string" if rules["nonempty"] and not value.strip() else ""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return ""
    low, high, above = rules["low"], rules["high"], rules["above"]
    if isinstance(value, float) and not math.isfinite(value):
        return "a finite number"
    if low is not None and high is not None and not low <= value <= high:
        return f"between {low} and {high}"
    if low is not None and value < low:
        return f"at least {low}"
    if above is not None and value <= above:
        return f"greater than {above}"
    return ""


def _registry_setting(raw, lines: _Lines) -> tuple[str, str, int]:
    """(path, registry_type, cache_ttl_seconds) from `registry: PATH` or Feast's
    `registry: {registry_type: file|sql, path: ..., cache_ttl_seconds: N}`.

    A file registry is a local path. A SQL registry is a sqlite:/// or postgresql:// URL
    (a URL with one of those schemes needs no registry_type); `${VAR}` in it is replaced by
    the environment variable, so a password need not be written in the file. Other URLs
    (s3://, gs://) are refused: taken as a folder name, one would silently create a local
    registry in a folder called 's3:'.
    """
    from featurestore.registry.sql import SCHEMES, normalize_url, redact

    where, path, kind, ttl = lines.where("registry"), "registry", None, 0
    if isinstance(raw, dict):
        for key in raw:
            if key == "registry_store_type":  # Feast's remote stores: S3RegistryStore, GCSRegistryStore, ...
                raise ConfigError(f"{lines.where('registry.registry_store_type')}: 'registry.registry_store_type' "
                                  f"is {raw[key]!r}; featurestore keeps the registry in a local file or a SQL "
                                  f"database: remove the setting and give registry.path such as data/registry.db")
            if key not in REGISTRY_KEYS:
                raise ConfigError(f"{lines.where(f'registry.{key}')}: unknown setting 'registry.{key}'."
                                  f"{did_you_mean(str(key), REGISTRY_KEYS)} Allowed: {', '.join(REGISTRY_KEYS)}")
        kind = raw.get("registry_type")
        if kind is not None and kind not in ("file", "sql"):
            raise ConfigError(f"{lines.where('registry.registry_type')}: 'registry.registry_type' is {kind!r}; "
                              f"choose 'file' (a local file such as data/registry.db) or 'sql' (a sqlite:/// or "
                              f"postgresql:// URL)")
        ttl = raw.get("cache_ttl_seconds", 0)
        if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 0:
            raise ConfigError(f"{lines.where('registry.cache_ttl_seconds')}: 'registry.cache_ttl_seconds' must be "
                              f"an int of at least 0, got {ttl!r}")
        where, path, raw = lines.where("registry.path"), "registry.path", raw.get("path")
    if not isinstance(raw, str) or not raw.strip():
        raise ConfigError(f"{where}: '{path}' must be a file path such as data/registry.db or a SQL URL such as "
                          f"sqlite:///data/registry.sqlite, got {raw!r}")
    raw = raw.strip()
    scheme = _URL_SCHEME.match(normalize_url(raw))
    if scheme and scheme.group(1) in SCHEMES:
        if kind == "file":
            raise ConfigError(f"{where}: '{path}' is a {scheme.group(1)}:// URL but registry.registry_type is "
                              f"'file'; set registry_type: sql, or give a file path such as data/registry.db")
        missing = [name for name in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", raw) if name not in os.environ]
        if missing:
            raise ConfigError(f"{where}: '{path}' uses the environment variable {missing[0]}, which is not set; "
                              f"export it, or write the value in the URL")
        url = re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: os.environ[m.group(1)], raw)
        return url, "sql", ttl
    if scheme:
        raise ConfigError(f"{where}: '{path}' is {redact(raw)!r}, a {scheme.group(1)}:// URL; featurestore keeps the "
                          f"registry in a local file (a path such as data/registry.db, relative to the repo) or in "
                          f"a SQL database (sqlite:///data/registry.sqlite, postgresql://USER@HOST:PORT/DB)")
    if kind == "sql":
        raise ConfigError(f"{where}: registry.registry_type is 'sql' but '{path}' is {raw!r}, not a URL; give "
                          f"sqlite:///{raw} or postgresql://USER@HOST:PORT/DATABASE")
    return raw, "file", ttl


def _pick_type(raw, path: str, lines: _Lines, choices, default: str) -> tuple[str, dict]:
    """The section's type name (one of choices) and its settings."""
    if raw is None:
        return default, {}
    if isinstance(raw, str):  # `online_store: sqlite` shorthand
        raw = {"type": raw}
    if not isinstance(raw, dict):
        raise ConfigError(f"{lines.where(path)}: '{path}' must be a mapping with a 'type', got {raw!r}")
    kind = raw.get("type", default)
    if kind not in choices:
        raise ConfigError(f"{lines.where(path + '.type')}: '{path}.type' is {kind!r}; choose one of "
                          f"{', '.join(choices)}.{did_you_mean(str(kind), choices)}")
    return kind, raw


# A feature_store.yaml holds a few dozen values. YAML's aliases let 840 bytes stand for
# billions of them (each anchor repeating the previous one nine times), which the loader
# shares but anything walking the settings would expand: such a file is refused.
MAX_YAML_NODES = 100_000


def _expanded_size(value, budget: int = MAX_YAML_NODES + 1) -> int:
    """How many values `value` holds once aliases are expanded, counting no further than budget."""
    count, stack = 0, [value]
    while stack and count < budget:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return count


def load_config(repo_path: str | Path) -> RepoConfig:
    """Read and check <repo_path>/feature_store.yaml."""
    repo_path = Path(repo_path).expanduser().resolve()
    file = repo_path / CONFIG_FILE
    if not file.is_file():
        raise ConfigError(f"{file}: not found; run `featurestore init NAME` to create a feature repo, or "
                          f"pass --repo/repo_path pointing at a folder with {CONFIG_FILE}")
    try:
        text = file.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        line = file.read_bytes()[:error.start].count(b"\n") + 1
        raise ConfigError(f"{file}:{line}: not UTF-8 text (byte 0x{error.object[error.start]:02x}); save the file "
                          f"as UTF-8") from None
    except OSError as error:
        raise ConfigError(f"{file}: cannot be read ({error.strerror}); check its permissions") from None
    try:
        lines = _Lines(text, file)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{file}:{mark.line + 1}" if mark else str(file)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        context, context_mark = getattr(error, "context", None), getattr(error, "context_mark", None)
        started = f" ({context} started at line {context_mark.line + 1})" if context and context_mark else ""
        raise ConfigError(f"{where}: malformed YAML: {problem}{started}; fix the indentation or quoting "
                          f"there") from None
    if _expanded_size(raw) > MAX_YAML_NODES:
        raise ConfigError(f"{file}: expands to more than {MAX_YAML_NODES:,} values (YAML aliases repeating "
                          f"aliases); write the settings out instead of nesting anchors")
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: must be a mapping with at least 'project:', got {type(raw).__name__}")
    allowed = ("project", "registry", "online_store", "offline_store", "quality", "serve") + tuple(FEAST_KEYS)
    for key in raw:
        if key not in allowed:
            raise ConfigError(f"{lines.where(str(key))}: unknown setting '{key}'.{did_you_mean(str(key), allowed)} "
                              f"Allowed: {', '.join(allowed)}")
    _check_feast_keys(raw, lines)
    project = raw.get("project")
    if not isinstance(project, str) or not _PROJECT_NAME.match(project):
        raise ConfigError(f"{lines.where('project')}: 'project' must be a plain identifier (letters, digits, "
                          f"'_'), got {project!r}")
    registry, registry_type, registry_ttl = _registry_setting(raw.get("registry", RepoConfig.registry), lines)
    online_type, online_raw = _pick_type(raw.get("online_store"), "online_store", lines, online.STORE_TYPES,
                                         "sqlite")
    offline_type, offline_raw = _pick_type(raw.get("offline_store"), "offline_store", lines,
                                           [*OFFLINE_STORE_CONFIGS, *FEAST_OFFLINE_TYPES], "spark")
    if offline_type in FEAST_OFFLINE_TYPES:
        offline_type = FEAST_OFFLINE_TYPES[offline_type]
        offline_raw = {**offline_raw, "type": offline_type}
    online_raw = _feast_online_settings(online_type, online_raw, lines)
    online_config = _check_section(online.config_class(online_type), online_raw, "online_store", lines)
    offline = _check_section(OFFLINE_STORE_CONFIGS[offline_type], offline_raw, "offline_store", lines)
    if isinstance(offline.warm_spark, bool):
        offline = dataclasses.replace(offline, warm_spark="cli" if offline.warm_spark else "off")
    for key in offline.spark_conf:
        if not isinstance(key, str) or not key.startswith("spark."):
            raise ConfigError(f"{lines.where('offline_store.spark_conf.' + str(key))}: spark_conf key {key!r} "
                              f"must be a Spark setting starting with 'spark.'")
        value = offline.spark_conf[key]
        if value is None or isinstance(value, (dict, list)):
            raise ConfigError(f"{lines.where('offline_store.spark_conf.' + key)}: 'offline_store.spark_conf.{key}' "
                              f"must be a string, number or boolean, got {value!r}")
    if offline.metastore not in ("shared", "embedded"):
        raise ConfigError(f"{lines.where('offline_store.metastore')}: 'offline_store.metastore' is "
                          f"{offline.metastore!r}; choose 'shared' (many processes at once, the default) or "
                          f"'embedded' (one process at a time)")
    if offline.warm_spark not in WARM_SPARK_MODES:
        raise ConfigError(f"{lines.where('offline_store.warm_spark')}: 'offline_store.warm_spark' is "
                          f"{offline.warm_spark!r}; choose 'cli' (the CLI's commands share a running Spark, the "
                          f"default), 'always' (the Python API too) or 'off' (a JVM in each process)")
    if offline.metastore_url and not offline.metastore_url.startswith(("jdbc:", "thrift://")):
        raise ConfigError(f"{lines.where('offline_store.metastore_url')}: 'offline_store.metastore_url' must be a "
                          f"JDBC URL (jdbc:postgresql://HOST:PORT/DATABASE?user=USER) or a Hive metastore service "
                          f"(thrift://HOST:9083), got {offline.metastore_url!r}")
    if offline.spark_remote:
        from featurestore.runtime.session import parse_remote_url

        try:
            parse_remote_url(offline.spark_remote)
        except ValueError as error:
            raise ConfigError(f"{lines.where('offline_store.spark_remote')}: 'offline_store.spark_remote' {error}"
                              ) from None
    return RepoConfig(project=project, repo_path=repo_path, registry=registry, registry_type=registry_type,
                      registry_cache_ttl_seconds=registry_ttl, online_store=online_config,
                      offline_store=offline, quality_thresholds=_quality_thresholds(raw.get("quality"), lines),
                      serve=_check_section(ServeConfig, raw.get("serve"), "serve", lines))


# Feast's top-level keys a Feast repo's feature_store.yaml carries: accepted where their value
# is what featurestore does anyway, refused in one line where it asks for something else.
FEAST_KEYS = {
    # featurestore is Feast's local provider: Spark over a local warehouse, SQLite or Redis online
    "provider": ("local",),
    # Feast's online key layouts: featurestore writes and reads version 3 (online/codec.py), the
    # only one Feast 0.67 still writes
    "entity_key_serialization_version": (3,),
    # no authentication: featurestore's servers listen on loopback (docs/deployment.md)
    "auth": ({"type": "no_auth"},),
}


# Feast's `offline_store: file` reads parquet files with pandas or Dask; here the same
# FileSource paths are read by Spark, so it means the Spark offline store.
FEAST_OFFLINE_TYPES = {"file": "spark"}


def _feast_online_settings(online_type: str, raw: dict, lines: _Lines) -> dict:
    """Feast's spellings of online-store settings, as this store's own keys. Redis:
    `connection_string: "host:port[,ssl=true][,db=N]"` and `redis_type: redis`; a password in the
    string is refused (a secret in a file that gets committed): name its variable in password_env."""
    if online_type != "redis" or not isinstance(raw, dict):
        return raw
    raw = dict(raw)
    redis_type = raw.pop("redis_type", "redis")
    if redis_type != "redis":
        raise ConfigError(f"{lines.where('online_store.redis_type')}: 'online_store.redis_type' is {redis_type!r}; "
                          f"featurestore talks to one Redis server ('redis'), not a cluster or sentinels")
    text = raw.pop("connection_string", None)
    if text is None:
        return raw
    where = lines.where("online_store.connection_string")
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{where}: 'online_store.connection_string' must be a string such as localhost:6379")
    address, *options = [part.strip() for part in text.split(",")]
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"{where}: 'online_store.connection_string' {text!r} must start with host:port, "
                          f"e.g. localhost:6379")
    parsed = {"host": host, "port": int(port)}
    for option in options:
        key, _, value = option.partition("=")
        key = key.strip().lower()
        if key == "password":
            raise ConfigError(f"{where}: the connection string holds a password; remove it and set password_env: "
                              f"REDIS_PASSWORD (the name of an environment variable holding it), so that no secret "
                              f"sits in feature_store.yaml")
        if key == "ssl":
            parsed["ssl"] = value.strip().lower() in ("true", "1", "yes")
        elif key == "db" and value.strip().isdigit():
            parsed["db"] = int(value)
        else:
            raise ConfigError(f"{where}: connection string option {option!r} is not understood; featurestore takes "
                              f"ssl=true and db=N (other settings are keys of online_store: "
                              f"socket_timeout_seconds, key_ttl_seconds, password_env)")
    for key in parsed:
        if key in raw:
            raise ConfigError(f"{lines.where('online_store.' + key)}: 'online_store.{key}' is given twice, by itself "
                              f"and in connection_string; keep one")
    return {**raw, **parsed}


def _check_feast_keys(raw: dict, lines: _Lines) -> None:
    for key, accepted in FEAST_KEYS.items():
        if key in raw and raw[key] not in accepted:
            choices = " or ".join(repr(a) for a in accepted)
            raise ConfigError(f"{lines.where(key)}: '{key}' is {raw[key]!r}; featurestore accepts {choices} (Feast's "
                              f"setting for what featurestore does: {_FEAST_KEY_MEANING[key]}); set it so, or "
                              f"remove the line")


_FEAST_KEY_MEANING = {
    "provider": "Spark over a local warehouse and a SQLite or Redis online store",
    "entity_key_serialization_version": "Feast's version-3 entity keys in the online store",
    "auth": "no authentication, servers on loopback",
}


def _quality_thresholds(raw, lines: _Lines) -> dict:
    """The `quality:` section's thresholds, checked as `featurestore validate` would use them."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or set(raw) - {"thresholds"}:
        raise ConfigError(f"{lines.where('quality')}: 'quality' holds one setting, 'thresholds' (a mapping such as "
                          f"psi_fail: 0.3), got {raw!r}")
    thresholds = raw.get("thresholds") or {}
    if not isinstance(thresholds, dict):
        raise ConfigError(f"{lines.where('quality.thresholds')}: 'quality.thresholds' must be a mapping such as "
                          f"psi_fail: 0.3, got {thresholds!r}")
    from featurestore.errors import DefinitionError
    from featurestore.quality.drift import Thresholds

    try:
        Thresholds.from_dict(thresholds, where="quality.thresholds")
    except (DefinitionError, TypeError) as error:
        raise ConfigError(f"{lines.where('quality.thresholds')}: {error}") from None
    return dict(thresholds)
