"""The routes of ``mnist-flow app`` in-process (httpx's ASGI transport): answers, the page,
503 while production is damaged and recovery after the repair, and the same preprocessing as
``mnist-flow predict``."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest

from tasks.core.export import load_weights_csv
from tasks.core.images import load_user_image
from tasks.core.network import predict_proba
from tasks.core.production import POINTER_JSON, repair_production
from tasks.core.registry import MNIST
from tasks.core.serving import ProductionHolder
from tasks.serving.app import STATIC, build_app
from tasks.serving.options import AppOptions
from tests.serving.conftest import one_on_paper, png_bytes, promote


class AppClient:
    """Requests to the application in this process, one event loop per request."""

    def __init__(self, app: object) -> None:
        self.transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)

    def request(self, method: str, path: str, **options: object) -> httpx.Response:
        async def send() -> httpx.Response:
            async with httpx.AsyncClient(transport=self.transport,
                                         base_url="http://app") as client:
                response = await client.request(method, path, **options)
                await response.aread()
                return response

        return asyncio.run(send())

    def get(self, path: str, **options: object) -> httpx.Response:
        return self.request("GET", path, **options)

    def post(self, path: str, **options: object) -> httpx.Response:
        return self.request("POST", path, **options)


def client_for(artifacts: Path) -> AppClient:
    options = AppOptions()
    return AppClient(build_app(ProductionHolder(artifacts / "mnist"),
                                class_names=MNIST.class_names,
                                max_body_bytes=options.max_body_bytes,
                                max_header_bytes=options.max_header_bytes))


@pytest.fixture
def client(tmp_path: Path) -> AppClient:
    promote(tmp_path, "model-a", seed=1)
    return client_for(tmp_path)


def test_a_picture_gets_the_same_answer_as_mnist_flow_predict(client: AppClient,
                                                              tmp_path: Path) -> None:
    picture = tmp_path / "one.png"
    picture.write_bytes(png_bytes(one_on_paper()))
    expected = predict_proba(load_weights_csv(tmp_path / "mnist" / "production"),
                             load_user_image(picture))[0]
    response = client.post("/predict", content=picture.read_bytes(),
                           headers={"content-type": "image/png"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["model"] == "model-a"
    assert answer["digit"] == int(expected.argmax()) and answer["label"] == str(answer["digit"])
    np.testing.assert_allclose(answer["probabilities"], expected, atol=1e-6)


def test_a_json_array_is_read_like_the_same_picture(client: AppClient) -> None:
    as_png = client.post("/predict", content=png_bytes(one_on_paper())).json()
    as_json = client.post("/predict", json=one_on_paper().tolist()).json()
    wrapped = client.post("/predict", json={"pixels": one_on_paper().tolist()}).json()
    assert as_json == as_png == wrapped
    scaled = client.post("/predict", json=(one_on_paper() / 255).tolist()).json()
    assert scaled == as_png  # 0-1 intensities are the same picture, not an empty one


def test_an_empty_picture_is_no_digit_found_not_a_guess(client: AppClient) -> None:
    blank = np.full((40, 40), 255, np.uint8)
    answer = client.post("/predict", content=png_bytes(blank)).json()
    assert answer["digit"] is None and answer["probabilities"] is None
    assert answer["message"].startswith("no digit found")
    assert answer["model"] == "model-a"


def test_model_describes_production(client: AppClient) -> None:
    model = client.get("/model").json()
    assert model["model"] == "model-a" and model["accuracy"] == 1.0
    assert model["reason"].startswith("first model") and model["promoted_at"]
    assert model["hidden"] == 20 and model["classes"] == list("0123456789")
    assert client.get("/health").json() == {"status": "ok"}


def test_no_production_yet_is_503_with_one_line(tmp_path: Path) -> None:
    client = client_for(tmp_path)
    for response in (client.get("/model"), client.post("/predict", content=b"x")):
        assert response.status_code == 503
        assert response.text.count("\n") == 0
        assert json.loads(response.text)["error"].startswith("nothing is in production")
    assert client.get("/health").status_code == 200


def test_a_damaged_production_is_503_until_repaired(client: AppClient,
                                                   tmp_path: Path) -> None:
    picture = png_bytes(one_on_paper())
    assert client.post("/predict", content=picture).status_code == 200
    (tmp_path / "mnist" / POINTER_JSON).unlink()
    for response in (client.post("/predict", content=picture), client.get("/model")):
        assert response.status_code == 503 and response.text.count("\n") == 0
        assert "production.json is missing" in response.json()["error"]
    assert client.get("/health").status_code == 200  # the process serves on
    repair_production(tmp_path / "mnist")
    answer = client.post("/predict", content=picture)
    assert answer.status_code == 200 and answer.json()["model"] == "model-a"


def test_the_page_and_its_files_come_from_the_package_not_a_cdn(client: AppClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text
    for name in ("app.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200
    for path in STATIC.iterdir():
        assert not re.search(r"https?://", path.read_text(encoding="utf-8")), path


def test_unknown_routes_and_methods_answer_json(client: AppClient) -> None:
    assert client.get("/nope").json() == {"error": "Not Found"}
    assert client.get("/predict").status_code == 405
    assert "error" in client.get("/predict").json()


def test_the_app_imports_no_prefect() -> None:
    """`mnist-flow app` starts without Prefect's second of imports."""
    code = ("import sys, flows.cli, flows.app, tasks.serving.app, tasks.serving.server; "
            "assert 'prefect' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
