"""The routes of ``mnist-flow app``: a Starlette application around a :class:`ProductionHolder`.

    GET  /          the drawing page (static/index.html, app.js, style.css: no CDN)
    GET  /health    {"status": "ok"} while the process serves (liveness, reads no model)
    GET  /model     the production model: id, accuracy, promotion time and reason; 503 if none
    POST /predict   an image (PNG, JPEG, ... bytes) or a JSON 28x28 array of 0-255 values:
                    the digit, the ten probabilities and the model that answered

Every error is one JSON line, ``{"error": "..."}``, with a 4xx status for the client's
mistakes (413 too large, 415 not an image, 422 bad JSON) and 503 while there is no usable
production model; nothing a client sends stops the server. Decoding and the network run in
the thread pool, so a large picture being decoded does not hold up other requests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from tasks.core.errors import DataError
from tasks.core.images import (
    SIDE,
    ImageTooLargeError,
    NoDigitError,
    digit_from_bytes,
    digit_from_pixels,
)
from tasks.core.production import ProductionDamagedError
from tasks.core.serving import NoProductionError, ProductionHolder, ServedModel

STATIC = Path(__file__).with_name("static")


class RefusedError(Exception):
    """A request answered with ``status`` and a one-line ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def error_response(status: int, message: str) -> JSONResponse:
    """``{"error": message}`` on one line (newlines folded), with ``status``."""
    return JSONResponse({"error": " ".join(str(message).split())}, status_code=status)


def build_app(holder: ProductionHolder, *, class_names: tuple[str, ...],
              max_body_bytes: int, max_header_bytes: int) -> ASGIApp:
    """The application serving ``holder``'s model; bodies over ``max_body_bytes`` get 413,
    headers over ``max_header_bytes`` 431."""

    async def predict(request: Request) -> Response:
        body = await _read_body(request, max_body_bytes)
        is_json = request.headers.get("content-type", "").startswith("application/json")
        answer = await run_in_threadpool(_predict, holder, body, is_json, class_names)
        return JSONResponse(answer)

    async def model(request: Request) -> Response:
        served = await run_in_threadpool(_current, holder)
        return JSONResponse(_describe(served, class_names))

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    routes = [Route("/", page), Route("/health", health), Route("/model", model),
              Route("/predict", predict, methods=["POST"]),
              Mount("/static", StaticFiles(directory=STATIC), name="static")]
    handlers: dict[Any, Any] = {RefusedError: _refused, HTTPException: _http_error,
                                Exception: _unexpected}
    return _HeaderLimit(Starlette(routes=routes, exception_handlers=handlers),
                        max_header_bytes)


class _HeaderLimit:
    """431 for headers over ``limit`` bytes in all. The HTTP protocol refuses them while they
    arrive in pieces (:mod:`tasks.serving.server`); headers that arrive in one read reach the
    application whole, and are refused here, before any route reads them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        size = sum(len(name) + len(value) + 4 for name, value in scope.get("headers", ()))
        if scope["type"] == "http" and size > self.limit:
            response = error_response(431, f"the request headers are over the limit of "
                                           f"{self.limit:,} bytes")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _refused(request: Request, error: Exception) -> Response:
    assert isinstance(error, RefusedError)
    return error_response(error.status, str(error))


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    return error_response(error.status_code, error.detail)


async def _unexpected(request: Request, error: Exception) -> Response:
    # A bug must not look like the client's fault, nor print a traceback to the client.
    return error_response(500, f"internal error ({type(error).__name__}); the server goes on")


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed ``limit`` bytes (by its
    Content-Length, or while streaming one sent without)."""
    declared = request.headers.get("content-length", "")
    too_large = RefusedError(413, f"the body is over the limit of {limit:,} bytes; send a smaller "
                             f"picture (a digit needs a few kilobytes)")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    if not size:
        raise RefusedError(400, "the body is empty; send a PNG or JPEG, or a JSON 28x28 array")
    return b"".join(chunks)


def _current(holder: ProductionHolder) -> ServedModel:
    try:
        return holder.current()
    except (NoProductionError, ProductionDamagedError) as error:
        raise RefusedError(503, str(error)) from None


def _predict(holder: ProductionHolder, body: bytes, is_json: bool,
             class_names: tuple[str, ...]) -> dict[str, Any]:
    """Decode, take the model once (a request keeps it), classify."""
    served = _current(holder)
    answer: dict[str, Any] = {"model": served.record.model}
    try:
        row = digit_from_pixels(_pixels_from_json(body)) if is_json else digit_from_bytes(body)
    except NoDigitError as verdict:  # an answer, not an error
        return {**answer, "digit": None, "label": None, "probabilities": None,
                "message": str(verdict)}
    except ImageTooLargeError as error:
        raise RefusedError(413, str(error)) from None
    except DataError as error:
        raise RefusedError(415, str(error)) from None
    proba = served.probabilities(row)
    digit = int(proba.argmax())
    return {**answer, "digit": digit, "label": class_names[digit],
            "probabilities": [round(float(p), 6) for p in proba], "message": None}


def _pixels_from_json(body: bytes) -> np.ndarray:
    """``[[...28 numbers...] x 28]`` (or ``{"pixels": ...}``), 0-255 (or 0-1 when no value is
    above 1) -> ``(28, 28) uint8``."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise RefusedError(422, f"the body is not JSON ({str(error)[:80]})") from None
    if isinstance(data, dict):
        data = data.get("pixels")
    try:
        pixels = np.asarray(data, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        pixels = np.empty(0)
    if pixels.shape != (SIDE, SIDE) or not np.isfinite(pixels).all() \
            or pixels.min() < 0 or pixels.max() > 255:
        raise RefusedError(422, f"expected a JSON {SIDE}x{SIDE} array of numbers from 0 to 255 "
                           f"(or {{\"pixels\": that array}}), got shape {pixels.shape}")
    if 0 < pixels.max() <= 1:  # 0-1 intensities (as plotted, or MNIST scaled): 0-255 would
        pixels = pixels * 255  # read them as no ink at all, so a 0-1 array is scaled
    return pixels.round().astype(np.uint8)


def _describe(served: ServedModel, class_names: tuple[str, ...]) -> dict[str, Any]:
    record = served.record
    return {"model": record.model, "accuracy": record.accuracy,
            "test_accuracy": record.test_accuracy, "promoted_at": record.promoted_at,
            "reason": record.reason, "policy": record.policy, "previous": record.previous,
            "hidden": int(served.params["W_1"].shape[0]), "classes": list(class_names)}
