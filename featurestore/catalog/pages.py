"""The catalog's HTML pages, rendered on the server from the registry (no build step, no CDN).

Every page is a function of the registry returning (path, html); paths are relative to
the catalog's root ("feature-views/driver_hourly_stats.html") and so are the links, so
the same pages are served by `featurestore ui` and written by `featurestore ui --export`.
Everything a user wrote (names, descriptions, tags, owners, code) goes through esc(): it
is shown, never run. The index embeds the search items as JSON (with '<' escaped) and
catalog.js, which ranks them as model.search does.
"""
from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from importlib import resources

from featurestore.catalog import model
from featurestore.catalog.lineage_svg import lineage_svg
from featurestore.errors import FeatureStoreError

STYLE = """
body{font-family:system-ui,sans-serif;margin:0;color:#1d2330;background:#fafbfc}
header{background:#1d2330;color:#fff;padding:.6em 1.2em}header a{color:#fff;margin-right:1.2em;text-decoration:none}
main{padding:1em 1.6em;max-width:1100px}h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;margin:.4em 0}td,th{border-bottom:1px solid #dde;padding:.3em .7em;text-align:left;
vertical-align:top}th{background:#eef0f4}code,pre{background:#eef0f4;padding:.1em .3em;border-radius:3px}
pre{padding:.7em;overflow-x:auto}.tag{background:#e3ecfa;border-radius:3px;padding:0 .4em;margin-right:.3em}
.stale{color:#b00020;font-weight:bold}.fresh{color:#18794e}#q{font-size:1.1em;width:28em;padding:.3em}
.muted{color:#667}.kind{color:#667;font-size:.85em;margin-right:.5em}.pass{color:#1a7f37}.fail{color:#cf222e}
svg a:hover rect{stroke:#1d2330;stroke-width:2}
"""


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def _tags(tags: dict) -> str:
    return " ".join(f'<span class="tag">{esc(k)}={esc(v)}</span>' for k, v in sorted((tags or {}).items()))


def _layout(title: str, body: str, depth: int, project: str) -> str:
    root = "../" * depth
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)} - featurestore catalog'
            f'</title><style>{STYLE}</style></head><body><header><a href="{root}index.html"><b>featurestore</b> '
            f'{esc(project)}</a><a href="{root}index.html">Search</a><a href="{root}lineage.html">Lineage</a>'
            f'<a href="{root}freshness.html">Freshness</a></header><main>{body}</main></body></html>')


def _link(kind: str, name: str, depth: int) -> str:
    return f'<a href="{"../" * depth}{esc(model.page_of(kind, name))}">{esc(name)}</a>'


def _table(headers: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return '<p class="muted">none</p>'
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _code(code_ref) -> str:
    if code_ref is None:
        return '<p class="muted">none</p>'
    return (f"<p><code>{esc(code_ref.name)}</code> in <code>{esc(code_ref.file)}</code>, sha256 "
            f"<code>{esc(code_ref.sha256[:16])}</code></p><pre>{esc(code_ref.source)}</pre>")


def _header(kind: str, obj) -> str:
    owner = f' <span class="muted">owner {esc(obj.owner)}</span>' if getattr(obj, "owner", "") else ""
    return (f'<h1><span class="kind">{esc(model.LABEL[kind])}</span>{esc(obj.name)}</h1>'
            f"<p>{esc(getattr(obj, 'description', '') or '')}{owner}</p><p>{_tags(getattr(obj, 'tags', {}))}</p>")


# --- pages ---------------------------------------------------------------------------------------

def index(registry, training_sets=()) -> str:
    items = model.items(registry, training_sets)
    counts = " &middot; ".join(f'{len(registry.collection(kind))} {esc(model.PLURAL[kind].lower())}'
                               for kind, _, _ in model.KIND_PAGES)
    lists = "".join(
        f"<h2>{esc(model.PLURAL[kind])}</h2>" + _table(["name", "description"], [
            [_link(kind, name, 0), esc(getattr(obj, "description", ""))]
            for name, obj in sorted(registry.collection(kind).items())])
        for kind, _, _ in model.KIND_PAGES)
    lists += "<h2>Training sets</h2>" + _table(["table", "Delta version", "features"], [
        [f'<a href="{esc(model.training_set_page(t.table))}">{esc(t.table)}</a>', esc(t.version),
         esc(len(t.definition.get("features", [])))] for t in training_sets])
    unreadable = getattr(training_sets, "unreadable", {})
    if unreadable:
        lists += ("<h2>Tables the catalog could not read</h2>" + _table(["table", "why"], [
            [esc(table), esc(reason)] for table, reason in sorted(unreadable.items())]))
    data = json.dumps([item.as_json() for item in items]).replace("<", "\\u003c")
    script = resources.files("featurestore.catalog").joinpath("catalog.js").read_text()
    body = (f"<h1>Feature catalog</h1><p class=\"muted\">{counts}</p>"
            f'<input id="q" type="search" placeholder="Search features, views, services, tags, owners, types" '
            f'autofocus><div id="results"></div>{lists}'
            f'<script type="application/json" id="items">{data}</script><script>{script}</script>')
    return _layout("Catalog", body, 0, registry.project)


def _profiles(table: str, warehouse, columns: list[str] | None = None) -> str:
    """The stored profiles of a table: versions, the newest against the one before (verdicts
    of quality.drift with its default thresholds), and a plot per column (of `columns`, or all)."""
    import base64

    try:
        stored = warehouse.profiles(table) if warehouse is not None else []
    except (FeatureStoreError, ValueError, OSError) as error:
        return f'<p class="muted">the stored profiles cannot be read here: {esc(str(error))}</p>'
    if not stored:
        return (f'<p class="muted">none stored; <code>featurestore profile {esc(table)}</code> stores one</p>')
    from featurestore.quality.drift import compare
    from featurestore.quality.plots import column_png

    newest = stored[-1]
    reference = stored[-2] if len(stored) > 1 else None
    versions = ", ".join(esc(p.label()) for p in stored)
    out = [f"<p>stored: {versions}; newest {esc(newest.label())}, {newest.rows:,} rows</p>"]
    columns = [c for c in (columns or list(newest.columns)) if c in newest.columns]
    if reference is not None:
        verdicts = [v for v in compare(reference, newest) if v.feature in columns]
        out.append(f"<p>against {esc(reference.label())}:</p>" + _table(
            ["feature", "verdict", "reasons"],
            [[esc(v.feature), f'<span class="{"fresh" if v.status == "pass" else "stale"}">{esc(v.status)}</span>',
              esc("; ".join(v.reasons))] for v in verdicts]))
    labels = (newest.label(), reference.label() if reference else "")
    for column in columns:
        other = reference.columns.get(column) if reference else None
        png = base64.b64encode(column_png(newest.columns[column], other, labels)).decode("ascii")
        out.append(f'<figure data-feature="{esc(column)}"><img alt="{esc(column)}: profile plot" '
                   f'src="data:image/png;base64,{png}"></figure>')
    return "".join(out)


def _history(table: str, warehouse) -> str:
    try:
        history = warehouse.history(table) if warehouse is not None else None
    except (FeatureStoreError, ValueError, OSError) as error:
        return f'<p class="muted">the history of {esc(table)} cannot be read here: {esc(str(error))}</p>'
    if history is None:
        return f'<p class="muted">{esc(table)} is not a Delta table in this repo\'s warehouse folder</p>'
    rows = [[esc(v), esc(_time(moment)), esc(operation)] for v, moment, operation in history[:10]]
    more = f'<p class="muted">and {len(history) - 10} older versions</p>' if len(history) > 10 else ""
    return _table(["version", "committed", "operation"], rows) + more


def _source_sections(view, warehouse) -> str:
    table = view.source.table
    if not table:
        return ('<h2>Profiles</h2><p class="muted">profiles and histories are kept for tables; this source is a '
                'path or a query</p>')
    from featurestore.quality.profile import view_columns

    return (f"<h2>Source history</h2>{_history(table, warehouse)}"
            f"<h2>Profiles</h2>{_profiles(table, warehouse, view_columns(view))}")


def feature_view(registry, name: str, warehouse=None) -> str:
    view = registry.feature_views[name]
    entities = registry.entities
    rows = [[esc(f.name), f"<code>{esc(repr(f.dtype))}</code>", esc(f.description), _tags(f.tags)]
            for f in view.features]
    source = view.source
    aggregations = _table(["feature", "function", "column", "window"], [
        [esc(a.name), esc(a.function), esc(a.column or "(events)"), esc(a.time_window)]
        for a in (view.aggregations or [])]) + (f"<p>delay {esc(view.delay)}</p>" if view.aggregations else "")
    users = model.used_by(registry, name)
    fresh = model.view_freshness(view)
    body = (_header("feature_views", view)
            + "<h2>Features</h2>" + _table(["feature", "type", "description", "tags"], rows)
            + "<h2>Entities</h2>" + _table(["entity", "join keys"], [
                [_link("entities", e, 1), esc(", ".join(entities[e].join_keys) if e in entities else "")]
                for e in view.entities])
            + f"<h2>Source</h2><p>{_link('data_sources', source.name, 1)}: {esc(source.describe_location())}, "
              f"event time <code>{esc(source.timestamp_field)}</code></p>"
            + _fresh_values(view)
            + f"<h2>Serving</h2><p>ttl {esc(view.ttl or 'none')}, online {esc(view.online)}</p>"
            + "<h2>Freshness</h2>" + _freshness_rows([fresh], 1)
            + ("<h2>Aggregations</h2>" + aggregations if view.aggregations else "")
            + "<h2>Batch transformation</h2>" + _code(view.transformation_code)
            + "<h2>Expectations</h2>" + _table(["expectation"], [[f"<code>{esc(e)}</code>"]
                                                               for e in view.expectations])
            + (f"<p>on violation: {esc(view.on_violation)}</p>" if view.expectations else "")
            + "<h2>Used by</h2>" + _used_by(users, 1)
            + _source_sections(view, warehouse))
    return _layout(name, body, 1, registry.project)


def _fresh_values(view) -> str:
    """Where a view's values come from besides batch materialization: pushes and a stream."""
    lines = []
    if view.push_source:
        lines.append(f"Rows pushed to <code>{esc(view.push_source)}</code> (<code>FeatureStore.push</code>, "
                     f"<code>POST /push</code>) are served at once.")
    if view.stream_trigger is not None:
        kafka = view.stream_source
        followed = (f"Kafka topic <code>{esc(kafka.topic)}</code> at <code>{esc(kafka.bootstrap_servers)}</code> "
                    f"({esc(kafka.message_format.kind.upper())} messages, source <code>{esc(kafka.name)}</code>), "
                    f"appended to the source above" if kafka else "the source above")
        lines.append(f"A stream follows {followed} every {esc(view.stream_trigger.total_seconds())} s: "
                     f"<code>featurestore stream --view {esc(view.name)}</code>.")
    return "<h2>Fresh values</h2>" + "".join(f"<p>{line}</p>" for line in lines) if lines else ""


def _used_by(users: dict, depth: int) -> str:
    rows = [[esc(model.LABEL[kind]), _link(kind, name, depth)] for kind, names in users.items() for name in names]
    return _table(["kind", "name"], rows)


def on_demand_feature_view(registry, name: str) -> str:
    odfv = registry.on_demand_feature_views[name]
    inputs = [[_link("feature_views" if p.view_name in registry.feature_views else "on_demand_feature_views",
                     p.view_name, 1), esc(", ".join(p.features))] for p in odfv.source_projections]
    body = (_header("on_demand_feature_views", odfv)
            + "<h2>Features</h2>" + _table(["feature", "type", "description"], [
                [esc(f.name), f"<code>{esc(repr(f.dtype))}</code>", esc(f.description)] for f in odfv.features])
            + "<h2>Inputs</h2>" + _table(["view", "features"], inputs)
            + "<h2>Request fields</h2>" + _table(["field", "type"], [
                [esc(f.name), f"<code>{esc(repr(f.dtype))}</code>"] for f in odfv.request_fields])
            + f"<h2>Function</h2><p>mode {esc(odfv.mode)}</p>" + _code(odfv.udf_code)
            + "<h2>Used by</h2>" + _used_by(model.used_by(registry, name), 1))
    return _layout(name, body, 1, registry.project)


def feature_service(registry, name: str, warehouse=None) -> str:
    service = registry.feature_services[name]
    rows = []
    for projection in service.projections:
        kind = "feature_views" if projection.view_name in registry.feature_views else "on_demand_feature_views"
        alias = f" as {esc(projection.name_alias)}" if projection.name_alias else ""
        rows.append([_link(kind, projection.view_name, 1) + alias, esc(", ".join(projection.features))])
    row = _example_row(registry, service.projections)
    python = (f"from featurestore import FeatureStore\n\nstore = FeatureStore(\"path/to/repo\")\n"
              f"features = store.get_online_features(\n    features=store.get_feature_service({name!r}),\n"
              f"    entity_rows=[{{{', '.join(f'{k!r}: {v!r}' for k, v in row.items())}}}],\n).to_dict()")
    entities_json = ", ".join(f"{json.dumps(k)}: [{json.dumps(v)}]" for k, v in row.items())
    curl = ("curl -s -X POST http://127.0.0.1:6566/get-online-features -H 'Content-Type: application/json' \\\n"
            f"  -d '{{\"entities\": {{{entities_json}}}, \"feature_service\": \"{name}\"}}'")
    entity_rows = ", ".join(f"{esc(json.dumps(k))}: {esc(json.dumps(v))}" for k, v in row.items())
    body = (_header("feature_services", service)
            + "<h2>Features</h2>" + _table(["view", "features"], rows)
            + f"<h2>Read it</h2><p>Each entity row holds: {entity_rows or 'nothing'}</p>"
            + f"<p>Python, in process:</p><pre>{esc(python)}</pre>"
            + f"<p>Over HTTP, from <code>featurestore serve</code>:</p><pre>{esc(curl)}</pre>"
            + _skew_section(service, warehouse))
    return _layout(name, body, 1, registry.project)


def _skew_section(service, warehouse) -> str:
    """The service's logging and its last skew report (featurestore skew), if any."""
    config = service.logging_config
    if config is None:
        return ("<h2>Training/serving skew</h2><p class='muted'>This service logs nothing: give it "
                "<code>logging_config=LoggingConfig(...)</code> to log what it serves and compare it with "
                "training (<code>featurestore skew</code>).</p>")
    where = getattr(config.destination, "path", None) or f"Delta table {config.destination.table_name}"
    text = f"<h2>Training/serving skew</h2><p>Logs {config.sample_rate:.0%} of requests to {esc(where)}.</p>"
    found = warehouse.skew_report(service.name) if warehouse is not None else None
    if found is None:
        return text + f"<p class='muted'>No report yet: <code>featurestore skew {esc(service.name)}</code>.</p>"
    report, html_file = found
    rows = [[esc(f.feature), f"{f.compared:,}", "-" if f.match_rate is None else f"{f.match_rate:.2%}",
             esc(", ".join(f"{cause} {count:,}" for cause, count in f.causes.items() if count) or "none"),
             f"<span class='{f.status}'>{f.status.upper()}</span>" + (f" {esc(f.note)}" if f.note else "")]
            for f in report.features]
    link = f" Full report: <code>{esc(html_file)}</code>." if html_file else ""
    return (text + f"<p id='skew' data-status='{report.status}'>Last report ({esc(report.computed_at)}, "
            f"{report.logged_rows:,} logged rows, threshold {report.threshold:.2%}): "
            f"<span class='{report.status}'>{report.status.upper()}</span>.{link}</p>"
            + _table(["feature", "compared", "match", "mismatches by cause", "status"], rows))


_EXAMPLES = {"Int32": 1001, "Int64": 1001, "Float32": 1.0, "Float64": 1.0, "String": "1001", "Bool": True,
             "UnixTimestamp": "2026-01-01T00:00:00Z"}


def _example_row(registry, projections) -> dict:
    """What one entity row of a service needs, with an example value of each column's type: the
    join keys of its views (those an on-demand view reads too) and on-demand views' request fields."""
    row = {}
    for projection in projections:
        view = registry.feature_views.get(projection.view_name)
        if view is not None:
            dtypes = {f.name: f.dtype for f in view.schema}
            for key in view.join_keys:
                row.setdefault(projection.join_key_map.get(key, key), _EXAMPLES.get(repr(dtypes.get(key)), "1001"))
            continue
        odfv = registry.on_demand_feature_views.get(projection.view_name)
        if odfv is not None:
            row.update((k, v) for k, v in _example_row(registry, odfv.source_projections).items() if k not in row)
            for field in odfv.request_fields:
                row.setdefault(field.name, _EXAMPLES.get(repr(field.dtype), "1"))
    return row


def entity(registry, name: str) -> str:
    obj = registry.entities[name]
    views = [[_link("feature_views", v.name, 1), esc(len(v.features))]
             for v in sorted(registry.feature_views.values(), key=lambda v: v.name) if name in v.entities]
    body = (_header("entities", obj) + f"<h2>Join keys</h2><p>{esc(', '.join(obj.join_keys))}</p>"
            + "<h2>Feature views</h2>" + _table(["view", "features"], views))
    return _layout(name, body, 1, registry.project)


def data_source(registry, name: str) -> str:
    source = registry.data_sources[name]
    views = [[_link("feature_views", v.name, 1)] for v in sorted(registry.feature_views.values(),
                                                                 key=lambda v: v.name) if v.source.name == name]
    mapping = _table(["column", "field"], [[esc(k), esc(v)] for k, v in sorted(source.field_mapping.items())])
    body = (_header("data_sources", source)
            + f"<h2>Location</h2><p>{esc(source.describe_location())}</p>"
            + f"<p>event time <code>{esc(source.timestamp_field)}</code>"
            + (f", created time <code>{esc(source.created_timestamp_column)}</code>"
               if source.created_timestamp_column else "") + "</p>"
            + "<h2>Field mapping</h2>" + mapping
            + "<h2>Read by</h2>" + _table(["feature view"], views))
    return _layout(name, body, 1, registry.project)


def training_set(registry, saved, warehouse=None) -> str:
    definition = saved.definition
    features = []
    for ref in definition.get("features", []):
        view, _, feature = ref.partition(":")
        kind = "feature_views" if view in registry.feature_views else \
            "on_demand_feature_views" if view in registry.on_demand_feature_views else None
        features.append([_link(kind, view, 1) if kind else esc(view) + ' <span class="muted">(gone)</span>',
                         esc(feature)])
    service = definition.get("feature_service")
    service_text = ((_link("feature_services", service, 1) if service in registry.feature_services else esc(service))
                    if service else '<span class="muted">none (features named one by one)</span>')
    versions = _table(["source table", "Delta version read"], [[esc(t), esc(v)] for t, v in
                                                               sorted((definition.get("source_versions") or {}).items())])
    transformations = _table(["transformation", "sha256"], [[esc(k), f"<code>{esc(str(v)[:16])}</code>"]
                                                            for k, v in sorted((definition.get("transformations")
                                                                                or {}).items())])
    body = (f'<h1><span class="kind">Training set</span>{esc(saved.table)}</h1>'
            f"<p>Delta version {esc(saved.version)}; built from registry version "
            f"{esc(definition.get('registry_version'))} of project {esc(definition.get('project'))}. "
            f"<code>featurestore training-set rebuild {esc(saved.table)}</code> rebuilds it by time travel.</p>"
            f"<h2>Feature service</h2><p>{service_text}</p>"
            + "<h2>Features</h2>" + _table(["view", "feature"], features)
            + f"<h2>Entity rows</h2><pre>{esc(json.dumps(definition.get('entity_source'), indent=2))}</pre>"
            + "<h2>Sources read</h2>" + versions
            + "<h2>Transformations</h2>" + transformations
            + "<h2>History</h2>" + _history(saved.table, warehouse)
            + "<h2>Profile</h2>" + _profiles(saved.table, warehouse))
    return _layout(saved.table, body, 1, registry.project)


def lineage(registry, training_sets=()) -> str:
    columns, edges = model.lineage(registry, training_sets)
    body = ("<h1>Lineage</h1><p class=\"muted\">Tables and paths, their data sources, feature views (and their "
            "batch transformations), on-demand views, services and saved training sets. Click a box to open its "
            "page.</p>"
            + lineage_svg(columns, edges))
    return _layout("Lineage", body, 0, registry.project)


def freshness(registry, now: datetime | None = None) -> str:
    rows = model.freshness(registry, now)
    stale = sum(1 for f in rows if f.stale)
    body = ("<h1>Freshness</h1>"
            f"<p>{len(rows)} feature views, <span class=\"{'stale' if stale else 'fresh'}\">{stale} stale</span> "
            f"(never materialized while online, or the lag since the last materialization's end exceeds the "
            f"ttl), as of {esc(_time(now or datetime.now(UTC)))}.</p>" + _freshness_rows(rows, 0))
    return _layout("Freshness", body, 0, registry.project)


def _freshness_rows(rows, depth: int) -> str:
    return _table(["view", "last materialized up to", "lag", "ttl", "last run", "intervals", "state"], [
        [_link("feature_views", f.view, depth), esc(_time(f.last_end) if f.last_end else "never"),
         esc(_duration(f.lag) if f.lag is not None else "-"), esc(f.ttl or "none"), _run(f.last_run),
         "<br>".join(f"{esc(_time(s))} &rarr; {esc(_time(e))}" for s, e in f.intervals[-5:])
         + (f'<br><span class="muted">and {len(f.intervals) - 5} earlier</span>' if len(f.intervals) > 5 else ""),
         ('<span class="stale">stale</span>' if f.stale else
          '<span class="fresh">fresh</span>' if f.online else '<span class="muted">offline only</span>')]
        for f in rows])


def _run(run) -> str:
    if run is None:
        return '<span class="muted">-</span>'
    return (f"finished {esc(_time(run.finished_at))}: {run.rows_selected:,} rows selected, "
            f"{run.rows_written:,} written, {run.seconds:.1f} s")


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(lag) -> str:
    seconds = int(lag.total_seconds())
    if seconds < 0:
        return "ahead of the clock"
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    return (f"{days} d " if days else "") + f"{hours} h {rest // 60} min"


DETAIL = {"feature_views": feature_view, "on_demand_feature_views": on_demand_feature_view,
          "feature_services": feature_service, "entities": entity, "data_sources": data_source}


def render(registry, path: str, warehouse=None) -> str | None:
    """The page at `path` (relative to the root), or None when there is none. `warehouse`
    (catalog.warehouse.Warehouse) gives stored profiles, histories and saved training sets."""
    def training_sets():  # a scan of the warehouse folder: only for the pages that show them
        return warehouse.training_sets() if warehouse is not None else []

    if path in ("", "index.html"):
        return index(registry, training_sets())
    if path == "lineage.html":
        return lineage(registry, training_sets())
    if path == "freshness.html":
        return freshness(registry)
    folder, _, file = path.partition("/")
    if folder == model.TRAINING_SETS_FOLDER:
        saved = next((t for t in training_sets() if f"{t.table}.html" == file), None)
        return None if saved is None else training_set(registry, saved, warehouse)
    for kind, kind_folder, _ in model.KIND_PAGES:
        if folder == kind_folder and file.endswith(".html") and file[:-5] in registry.collection(kind):
            if kind in ("feature_views", "feature_services"):
                return DETAIL[kind](registry, file[:-5], warehouse)
            return DETAIL[kind](registry, file[:-5])
    return None


def all_pages(registry, warehouse=None):
    """(path, html) of every page, for --export."""
    training_sets = warehouse.training_sets() if warehouse is not None else []
    yield "index.html", index(registry, training_sets)
    yield "lineage.html", lineage(registry, training_sets)
    yield "freshness.html", freshness(registry)
    for kind, _, _ in model.KIND_PAGES:
        for name in sorted(registry.collection(kind)):
            page = DETAIL[kind](registry, name, warehouse) if kind in ("feature_views", "feature_services") else \
                DETAIL[kind](registry, name)
            yield model.page_of(kind, name), page
    for saved in training_sets:
        yield model.training_set_page(saved.table), training_set(registry, saved, warehouse)
