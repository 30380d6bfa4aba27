"""Every option is generated from a model field: the CLI, the flow's parameter schema and the
cache key all follow a field with nothing else to edit."""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import BaseModel, Field, create_model

from flows.cli import subcommand_parser
from flows.options import add_field_options, field_flag, flow_document
from tasks.config import FlowConfig, RetrainingConfig, ServeOptions, SweepOptions
from tasks.engine.cache_key import stage_key
from tasks.layout import Layout


def _dests(command: str) -> dict[str, argparse.Action]:
    """Each destination's first option (``--dask`` after ``--engine`` is a shortcut)."""
    found: dict[str, argparse.Action] = {}
    for action in subcommand_parser(command)._actions:
        found.setdefault(action.dest, action)
    return found


def _sections() -> dict[str, type[BaseModel]]:
    return {name: field.annotation for name, field in FlowConfig.model_fields.items()
            if name != "train" and isinstance(field.annotation, type)
            and issubclass(field.annotation, BaseModel)}


def test_every_field_of_every_section_is_an_option_of_run_and_serve() -> None:
    for command in ("run", "serve", "explain"):
        actions = _dests(command)
        for model in _sections().values():
            for name in model.model_fields:
                assert field_flag(model, name) in actions[name].option_strings, (command, name)
                assert actions[name].default is None, (command, name)  # the model's default


def test_the_sweep_and_serve_options_are_their_models_fields() -> None:
    sweep, serve = _dests("sweep"), _dests("serve")
    for name, field in SweepOptions.model_fields.items():
        assert (field.description or "").split(";")[0].rstrip(".") in sweep[name].help, name
    assert sweep["engine"].choices == ("threads", "dask")
    assert serve["cron"].required and serve["name"].default is None
    parsed = subcommand_parser("sweep").parse_args(["--grid", "lr=0.1", "--dask"])
    assert parsed.engine == "dask" and parsed.workers is None  # the default stays the model's
    assert ServeOptions(cron="0 3 * * 0").name == "scheduled-retraining"


def test_a_field_added_to_a_section_reaches_the_cli_the_schema_and_the_gates_key(
        tmp_path: Path) -> None:
    """What a new gate setting costs: its field. Nothing else is edited."""
    from flows.mnist_flow import mnist_flow
    from tasks.stages.promote import promote

    extended = create_model("RetrainingConfig", __base__=RetrainingConfig,
                            margin=(float, Field(0.0, ge=0, description="A new setting.")))
    parser = argparse.ArgumentParser()
    add_field_options(parser, extended, defaults=True)
    args = parser.parse_args(["--margin", "0.01", "--promote-significance", "0.01"])
    assert (args.margin, args.significance) == (0.01, 0.01)

    layout = Layout(tmp_path, "mnist")

    def gate_key(margin: float) -> str:
        config = FlowConfig(retraining=extended(margin=margin, incoming=tmp_path / "in"))
        inputs = promote.parameters(config, layout)
        return stage_key("promote", promote.task.fn, inputs, root=layout.root)[0]

    assert gate_key(0.0) != gate_key(0.01)
    # ... while the intake folder, which the gate does not read, stays out of its key
    moved = FlowConfig(retraining=extended(margin=0.0, incoming=tmp_path / "elsewhere"))
    assert stage_key("promote", promote.task.fn, promote.parameters(moved, layout),
                     root=layout.root)[0] == gate_key(0.0)
    # and the flow's parameter schema shows every section field to the dashboard's form
    schema = mnist_flow.parameters.model_dump()["definitions"]
    for name, model in _sections().items():
        assert set(model.model_fields) <= set(schema[model.__name__]["properties"]), name


def test_flow_document_takes_each_section_from_its_own_fields(tmp_path: Path) -> None:
    args = subcommand_parser("run").parse_args(
        ["--promote", "never", "--timeout", "5", "--artifacts-dir", str(tmp_path), "--lr", "0.5"])
    document = flow_document(args)
    assert document["retraining"] == {"promote": "never"}
    assert document["data"] == {"timeout": 5.0}
    assert document["train"] == {"lr": 0.5}
    assert FlowConfig.model_validate(document).artifacts_dir == tmp_path
