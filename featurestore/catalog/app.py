"""The catalog as an ASGI application: GET a page path, get its HTML, rendered from the
registry as stored now (an `apply` shows on the next page load). Read-only: any other
method is a 405; an unknown page a 404 page; a registry that cannot be read a 503 page, any
other fault a 500 page (never uvicorn's plain-text 500), its cause in the server's log."""
from __future__ import annotations

import sys

from featurestore.catalog import pages
from featurestore.catalog.warehouse import Warehouse
from featurestore.errors import FeatureStoreError
from featurestore.serving.app import printable, refuse_websocket


class CatalogApp:
    def __init__(self, feature_store):
        self.registry_store = feature_store.registry_store
        self.warehouse = Warehouse(feature_store.config.warehouse_dir)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "websocket":
            await refuse_websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        path = scope["path"].lstrip("/")
        if scope["method"] not in ("GET", "HEAD"):
            status, page = 405, _message("405: the catalog is read-only; it answers GET only.")
        else:
            status, page = self._page(path)
        data = page.encode()
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(data)).encode()),
            (b"content-security-policy", b"default-src 'none'; style-src 'unsafe-inline'; "
                                         b"script-src 'unsafe-inline'; img-src 'self' data:")]})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else data})


    def _page(self, path: str) -> tuple[int, str]:
        try:
            page = pages.render(self.registry_store.load(), path, self.warehouse)
        except FeatureStoreError as error:  # the registry: the server's fault, not the reader's
            return 503, _message(f"503: the registry cannot be read: {pages.esc(str(error))}")
        except Exception as error:
            print(f"featurestore ui: unexpected {type(error).__name__} on {printable(path)}: "
                  f"{printable(str(error))}", file=sys.stderr)
            return 500, _message(f"500: unexpected {pages.esc(type(error).__name__)} while rendering this page; "
                                 f"see the server's log.")
        if page is None:
            return 404, _message(f"404: no page {pages.esc(path)}. Start from the search.")
        return 200, page


def _message(text: str) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>featurestore catalog</title></head>'
            f'<body><p>{text}</p><p><a href="/index.html">Search the catalog</a></p></body></html>')
