"""The lineage graph drawn as inline SVG: one column per stage, a box per node linking to its
page, a curve per edge. No layout library: columns keep the registry's name order, which is
enough for a repo's few dozen boxes and keeps the drawing stable between visits."""
from __future__ import annotations

import html

BOX_WIDTH, BOX_HEIGHT, COLUMN_GAP, ROW_GAP, LABEL_CHARS = 210, 30, 70, 14, 28
COLUMN_TITLES = ("Tables and paths", "Data sources", "Feature views", "On-demand views", "Services",
                 "Training sets")
FILL = {"tables": "#f1f3f7", "data_sources": "#e3ecfa", "feature_views": "#dff3e8",
        "on_demand_feature_views": "#fdf0d5", "feature_services": "#f6e3f3", "training_sets": "#e8e4f8"}


def lineage_svg(columns, edges) -> str:
    positions = {}
    for c, column in enumerate(columns):
        for r, node in enumerate(column):
            positions[node] = (c * (BOX_WIDTH + COLUMN_GAP), 30 + r * (BOX_HEIGHT + ROW_GAP))
    width = len(columns) * (BOX_WIDTH + COLUMN_GAP)
    height = 40 + max((len(column) for column in columns), default=0) * (BOX_HEIGHT + ROW_GAP)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" id="lineage" width="{width}" height="{height}" '
             f'font-family="system-ui,sans-serif" font-size="12">']
    for c, title in enumerate(COLUMN_TITLES):
        parts.append(f'<text x="{c * (BOX_WIDTH + COLUMN_GAP)}" y="14" fill="#667">{title}</text>')
    for start, end in edges:
        (x1, y1), (x2, y2) = positions[start], positions[end]
        x1, y1, y2 = x1 + BOX_WIDTH, y1 + BOX_HEIGHT / 2, y2 + BOX_HEIGHT / 2
        middle = (x1 + x2) / 2
        parts.append(f'<path d="M{x1},{y1} C{middle},{y1} {middle},{y2} {x2},{y2}" fill="none" stroke="#99a" '
                     f'data-from="{html.escape(start.name)}" data-to="{html.escape(end.name)}"/>')
    for node, (x, y) in positions.items():
        label = node.label if len(node.label) <= LABEL_CHARS else node.label[:LABEL_CHARS - 1] + "\u2026"
        parts.append(f'<a href="{html.escape(node.page)}" data-kind="{node.kind}" data-name="{html.escape(node.name)}">'
                     f'<title>{html.escape(node.label)}</title>'
                     f'<rect x="{x}" y="{y}" width="{BOX_WIDTH}" height="{BOX_HEIGHT}" rx="5" fill="{FILL[node.kind]}" '
                     f'stroke="#99a"/><text x="{x + 8}" y="{y + 19}">{html.escape(label)}</text></a>')
    parts.append("</svg>")
    return "".join(parts)
