"""What the catalog shows, read from the registry alone (no JVM): items to search, the
lineage graph, and each view's freshness.

Every definition becomes an Item with the page it lives on. Features are items too, so a
search for "conv" finds `driver_hourly_stats:conv_rate` itself. Search ranks by where the
words match (search below; the browser runs the same rule in catalog.js, and a test
compares the two on random queries).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

# (registry field, URL folder, label) in the order pages list them
KIND_PAGES = (
    ("entities", "entities", "Entity"),
    ("data_sources", "data-sources", "Data source"),
    ("feature_views", "feature-views", "Feature view"),
    ("on_demand_feature_views", "on-demand-feature-views", "On-demand view"),
    ("feature_services", "feature-services", "Feature service"),
)
FOLDER = {kind: folder for kind, folder, _ in KIND_PAGES}
LABEL = {kind: label for kind, _, label in KIND_PAGES}
PLURAL = {"entities": "Entities", "data_sources": "Data sources", "feature_views": "Feature views",
          "on_demand_feature_views": "On-demand views", "feature_services": "Feature services"}


@dataclass(frozen=True)
class Item:
    """One thing a search can find: a definition, or a feature of a view."""
    kind: str  # a KIND_PAGES label, or "Feature"
    name: str  # "driver_hourly_stats" or, for a feature, "driver_hourly_stats:conv_rate"
    page: str  # the page's path from the catalog's root: "feature-views/driver_hourly_stats.html"
    description: str = ""
    owner: str = ""
    type: str = ""  # a feature's type
    tags: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"kind": self.kind, "name": self.name, "page": self.page, "description": self.description,
                "owner": self.owner, "type": self.type, "tags": dict(self.tags)}


TRAINING_SETS_FOLDER = "training-sets"


def page_of(kind: str, name: str) -> str:
    if kind == "training_sets":
        return training_set_page(name)
    return f"{FOLDER[kind]}/{name}.html"


def training_set_page(table: str) -> str:
    return f"{TRAINING_SETS_FOLDER}/{table}.html"


def items(registry, training_sets=()) -> list[Item]:
    """Every definition, every feature of a view or on-demand view, and every saved training
    set (catalog.warehouse.SavedTrainingSet), in name order."""
    out = []
    for kind, _, label in KIND_PAGES:
        for name, obj in sorted(registry.collection(kind).items()):
            page = page_of(kind, name)
            out.append(Item(label, name, page, getattr(obj, "description", ""), getattr(obj, "owner", ""),
                            tags=dict(getattr(obj, "tags", {}) or {})))
            if kind in ("feature_views", "on_demand_feature_views"):
                for feature in obj.features:
                    out.append(Item("Feature", f"{name}:{feature.name}", page, feature.description, "",
                                    repr(feature.dtype), dict(feature.tags or {})))
    for saved in training_sets:
        service = saved.definition.get("feature_service") or ""
        out.append(Item("Training set", saved.table, training_set_page(saved.table),
                        f"{len(saved.definition.get('features', []))} features" + (f" of {service}" if service else "")))
    return out


# --- search: the reference the browser's catalog.js follows ------------------------------------

def score(item: Item, words: list[str]) -> int:
    """How well an item matches every word (0: it does not). Per word, the best of: the whole
    name (100) or the part after ':' (90) equal to it, the name starting with it (60) or
    containing it (40), a tag key or value, the owner or the type equal to it (30), the
    description containing it (10), any of those containing it (5). Words are lower-case."""
    name = item.name.lower()
    short = name.split(":")[-1]
    tags = [t.lower() for pair in item.tags.items() for t in pair]
    owner, kind_type, description = item.owner.lower(), item.type.lower(), item.description.lower()
    total = 0
    for word in words:
        if name == word:
            best = 100
        elif short == word:
            best = 90
        elif name.startswith(word) or short.startswith(word):
            best = 60
        elif word in name:
            best = 40
        elif word in tags or word == owner or word == kind_type:
            best = 30
        elif word in description:
            best = 10
        elif any(word in t for t in tags) or word in owner or word in kind_type:
            best = 5
        else:
            return 0
        total += best
    return total


def search(all_items: list[Item], query: str, limit: int = 50) -> list[Item]:
    """Items matching every word of `query`, best first; ties: shorter name, then name."""
    words = query.lower().split()
    if not words:
        return []
    scored = [(score(item, words), item) for item in all_items]
    ranked = sorted((pair for pair in scored if pair[0] > 0), key=lambda p: (-p[0], len(p[1].name), p[1].name))
    return [item for _, item in ranked[:limit]]


# --- lineage -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Node:
    kind: str  # a registry field, or "tables" for a source's table or path
    name: str
    label: str

    @property
    def page(self) -> str:
        return page_of("data_sources", self.name) if self.kind == "tables" else page_of(self.kind, self.name)


def lineage(registry, training_sets=()) -> tuple[list[list[Node]], list[tuple[Node, Node]]]:
    """Columns of nodes, left to right: tables, data sources, feature views, on-demand views,
    services, saved training sets; and the edges (from, to). A table's node links to its
    source's page. A training set hangs from its service, or from the views it read."""
    tables, sources, views, on_demand, services, saved_sets = [], [], [], [], [], []
    edges = []
    source_nodes = {}
    for name, source in sorted(registry.data_sources.items()):
        node = Node("data_sources", name, name)
        source_nodes[name] = node
        sources.append(node)
        table = Node("tables", name, source.describe_location())
        tables.append(table)
        edges.append((table, node))
    view_nodes = {}
    for name, view in sorted(registry.feature_views.items()):
        label = f"{name} (transformed)" if view.transformation_code is not None else name
        node = view_nodes[name] = Node("feature_views", name, label)
        views.append(node)
        source = source_nodes.get(view.source.name)
        if source is not None:
            edges.append((source, node))
    odfv_nodes = {}
    for name, odfv in sorted(registry.on_demand_feature_views.items()):
        node = odfv_nodes[name] = Node("on_demand_feature_views", name, name)
        on_demand.append(node)
        for projection in odfv.source_projections:
            if projection.view_name in view_nodes:
                edges.append((view_nodes[projection.view_name], node))
    service_nodes = {}
    for name, service in sorted(registry.feature_services.items()):
        node = service_nodes[name] = Node("feature_services", name, name)
        services.append(node)
        for projection in service.projections:
            upstream = view_nodes.get(projection.view_name) or odfv_nodes.get(projection.view_name)
            if upstream is not None:
                edges.append((upstream, node))
    for saved in training_sets:
        node = Node("training_sets", saved.table, saved.table)
        saved_sets.append(node)
        service = service_nodes.get(saved.definition.get("feature_service") or "")
        if service is not None:
            edges.append((service, node))
            continue
        for view in sorted({ref.split(":", 1)[0] for ref in saved.definition.get("features", [])}):
            upstream = view_nodes.get(view) or odfv_nodes.get(view)
            if upstream is not None:
                edges.append((upstream, node))
    return [tables, sources, views, on_demand, services, saved_sets], edges


# --- freshness -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Freshness:
    view: str
    intervals: list  # [(start, end)] materialized, oldest first
    last_end: datetime | None
    lag: timedelta | None  # now - last_end
    ttl: timedelta
    stale: bool  # the lag exceeds the ttl (a ttl of 0: never stale), or never materialized while online
    online: bool
    last_run: object = None  # definitions.feature_view.MaterializationRun, or None


def freshness(registry, now: datetime | None = None) -> list[Freshness]:
    now = now or datetime.now(UTC)
    return [view_freshness(view, now) for _, view in sorted(registry.feature_views.items())]


def view_freshness(view, now: datetime | None = None) -> Freshness:
    """One view's freshness (a feature view page needs its own only)."""
    now = now or datetime.now(UTC)
    intervals = sorted(view.materialization_intervals)
    last_end = max((end for _, end in intervals), default=None)
    lag = None if last_end is None else now - last_end
    if not view.online:
        stale = False
    elif lag is None:
        stale = True
    else:
        stale = bool(view.ttl) and lag > view.ttl
    return Freshness(view.name, intervals, last_end, lag, view.ttl, stale, view.online, view.last_run)


def used_by(registry, view_name: str) -> dict[str, list[str]]:
    """The on-demand views and services that read a view (or an on-demand view)."""
    return {"on_demand_feature_views": sorted(n for n, o in registry.on_demand_feature_views.items()
                                              if any(p.view_name == view_name for p in o.source_projections)),
            "feature_services": sorted(n for n, s in registry.feature_services.items()
                                       if any(p.view_name == view_name for p in s.projections))}
