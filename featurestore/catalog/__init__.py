"""The feature catalog (`featurestore ui`): a read-only web page where colleagues find
features. model.py reads what to show from the registry (items, lineage, freshness),
pages.py renders the HTML, lineage_svg.py draws the graph, catalog.js is the browser's
instant search, app.py serves the pages (on the feature server's stack) and export.py
writes them as static files. No JVM: the registry is all it reads."""
