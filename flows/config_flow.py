"""A flow whose parameters are pydantic models, recorded for the dashboard without FastAPI.

Prefect turns a flow's parameters into JSON for its API with FastAPI's ``jsonable_encoder``,
importing FastAPI (0.15 s) into every run, cached or not; the temporary server imports it
anyway, a run against ``prefect server start`` does not otherwise. For a pydantic model that
encoder gives exactly ``model_dump(mode="json", by_alias=True)``, which is what this flow sends
(``tests/test_imports.py`` checks both claims).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import Flow
from pydantic import BaseModel


class ConfigFlow(Flow[..., Any]):
    """A :class:`prefect.Flow` that serializes pydantic-model parameters itself."""

    def serialize_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        if not all(isinstance(value, BaseModel) for value in parameters.values()):
            return super().serialize_parameters(parameters)
        return {name: value.model_dump(mode="json", by_alias=True)
                for name, value in parameters.items()}


def config_flow(**options: Any) -> Callable[[Callable[..., Any]], ConfigFlow]:
    """``@config_flow(name=...)``: ``@prefect.flow(name=...)``, making a :class:`ConfigFlow`."""
    return lambda fn: ConfigFlow(fn=fn, **options)
