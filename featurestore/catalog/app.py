"""The catalog as an ASGI application: GET a page path, get its HTML, rendered from the
registry as stored now (an `apply` shows on the next page load). Read-only: any other
method is a 405; an unknown page a 404 page."""
from __future__ import annotations

from featurestore.catalog import pages
from featurestore.catalog.warehouse import Warehouse


class CatalogApp:
    def __init__(self, feature_store):
        self.registry_store = feature_store.registry_store
        self.warehouse = Warehouse(feature_store.config.warehouse_dir)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"].lstrip("/")
        if scope["method"] not in ("GET", "HEAD"):
            status, page = 405, _message("405: the catalog is read-only; it answers GET only.")
        else:
            page = pages.render(self.registry_store.load(), path, self.warehouse)
            status = 200 if page is not None else 404
            if page is None:
                page = _message(f"404: no page {pages.esc(path)}. Start from the search.")
        data = page.encode()
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(data)).encode()),
            (b"content-security-policy", b"default-src 'none'; style-src 'unsafe-inline'; "
                                         b"script-src 'unsafe-inline'; img-src 'self' data:")]})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else data})


def _message(text: str) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>featurestore catalog</title></head>'
            f'<body><p>{text}</p><p><a href="/index.html">Search the catalog</a></p></body></html>')
