"""The interactive API docs, served by genflow itself: Swagger UI at /docs, ReDoc at /redoc.

FastAPI's own pages load their script from a public CDN: blank offline, and a third
party's code runs on the page where users paste bearer tokens. Here the scripts and
stylesheets come from the fastapi-offline package (Swagger UI 5, ReDoc 2) and from
api/static/, under /docs/assets/, and every page answers with a Content-Security-Policy
that lets it load and call nothing but genflow's own origin and run no inline script.
Every URL in the pages is relative, so they work under a path prefix (a proxy's).
"""

from __future__ import annotations

from html import escape
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse
from starlette.responses import Response

DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"
ASSETS_PATH = "/docs/assets"

_VENDOR = Path(str(files("fastapi_offline") / "static"))
_OWN = Path(__file__).parent / "static"
# The only files under /docs/assets/: name -> (file, content type). No directory listing,
# no other file of either folder.
ASSETS: dict[str, tuple[Path, str]] = {
    "swagger-ui-bundle.js": (_VENDOR / "swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": (_VENDOR / "swagger-ui.css", "text/css"),
    "redoc.standalone.js": (_VENDOR / "redoc.standalone.js", "text/javascript"),
    "favicon.png": (_VENDOR / "favicon.png", "image/png"),
    "swagger-init.js": (_OWN / "swagger-init.js", "text/javascript"),
    "oauth2-redirect.js": (_OWN / "oauth2-redirect.js", "text/javascript"),
    "redoc.css": (_OWN / "redoc.css", "text/css"),
}

_OWN_ORIGIN_ONLY = {
    "default-src": "'none'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "font-src": "'self'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
SWAGGER_CSP = "; ".join(f"{name} {value}" for name, value in _OWN_ORIGIN_ONLY.items())
# ReDoc (styled-components) writes its styles into <style> elements, and runs its search
# index in a worker made from a blob: URL of its own code; scripts stay 'self' only.
REDOC_CSP = "; ".join(
    f"{name} {value}"
    for name, value in {
        **_OWN_ORIGIN_ONLY,
        "style-src": "'self' 'unsafe-inline'",
        "worker-src": "blob:",
    }.items()
)


def _secured(response: Response, csp: str = SWAGGER_CSP) -> Response:
    response.headers["Content-Security-Policy"] = csp
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _page(title: str, head: str, body: str) -> str:
    """A docs page: its title, genflow's icon, then `head`'s and `body`'s markup."""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<link rel="icon" type="image/png" href="docs/assets/favicon.png">
{head}
</head>
<body>
{body}
</body>
</html>
"""


def swagger_page(title: str, openapi_url: str) -> str:
    """The Swagger UI page: markup only; docs/assets/swagger-init.js starts the UI."""
    head = """<link rel="stylesheet" href="docs/assets/swagger-ui.css">
<script src="docs/assets/swagger-ui-bundle.js" defer></script>
<script src="docs/assets/swagger-init.js" defer></script>"""
    body = f"""<div id="swagger-ui" data-openapi-url="{escape(openapi_url)}"
 data-oauth2-redirect-url="{OAUTH2_REDIRECT_PATH.lstrip("/")}"></div>"""
    return _page(f"{title} - Swagger UI", head, body)


def redoc_page(title: str, openapi_url: str) -> str:
    """The ReDoc page: ReDoc's standalone script renders the <redoc> element itself."""
    head = '<link rel="stylesheet" href="docs/assets/redoc.css">'
    body = f"""<redoc spec-url="{escape(openapi_url)}"></redoc>
<script src="docs/assets/redoc.standalone.js"></script>"""
    return _page(f"{title} - ReDoc", head, body)


def oauth2_redirect_page() -> str:
    """Where an OAuth2 provider sends Swagger UI's Authorize window back to."""
    return """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Swagger UI: OAuth2 Redirect</title>
<script src="assets/oauth2-redirect.js" defer></script>
</head>
<body></body>
</html>
"""


def install_docs(app: FastAPI) -> None:
    """Serve /docs, /redoc, /docs/oauth2-redirect and /docs/assets/* from this process.
    The app is made with `docs_url=None, redoc_url=None`, so FastAPI's CDN pages are off;
    none of these routes is in the OpenAPI document, and none needs a token."""
    if app.docs_url or app.redoc_url:
        raise ValueError("make the app with docs_url=None, redoc_url=None (CDN pages)")
    openapi_url = (app.openapi_url or "/openapi.json").lstrip("/")

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui() -> Response:
        return _secured(HTMLResponse(swagger_page(app.title, openapi_url)))

    @app.get(REDOC_PATH, include_in_schema=False)
    async def redoc() -> Response:
        return _secured(HTMLResponse(redoc_page(app.title, openapi_url)), REDOC_CSP)

    @app.get(OAUTH2_REDIRECT_PATH, include_in_schema=False)
    async def swagger_ui_oauth2_redirect() -> Response:
        return _secured(HTMLResponse(oauth2_redirect_page()))

    @app.get(ASSETS_PATH + "/{name}", include_in_schema=False)
    async def docs_asset(name: str) -> Response:
        found = ASSETS.get(name)
        if found is None:
            raise HTTPException(status_code=404)
        path, media_type = found
        return _secured(FileResponse(path, media_type=media_type))
