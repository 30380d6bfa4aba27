"""``mnist-flow app``: the production model over HTTP, and a page to draw digits on.

:mod:`options` (what a user can set), :mod:`app` (the routes), :mod:`server` (uvicorn on a
socket bound first, errors as one JSON line), ``static/`` (the drawing page: no CDN).
"""
