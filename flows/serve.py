"""Scheduled retraining: serve the flow as a deployment with a cron schedule.

    mnist-flow serve --cron "0 3 * * 0"                               # Sundays 03:00 UTC
    mnist-flow serve --cron "0 6 * * 1" --timezone Europe/Berlin --seed 7

The deployment's parameters are the flow config the options describe (same options as a
plain run). Serving again must respect what the user did in the dashboard, so the existing
deployment's pause and schedule switches are read first and kept (Prefect's own redeploy turns
both back on: Prefect issues #14973 and #17538); :func:`schedule_state` is also the ``build``
step of ``prefect.yaml`` for the same reason.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import zoneinfo
from pathlib import Path
from typing import Any

from prefect import serve as prefect_serve
from prefect.client.orchestration import get_client
from prefect.client.schemas.schedules import CronSchedule
from prefect.deployments.runner import EntrypointType
from prefect.exceptions import ObjectNotFound
from prefect.schedules import Cron
from prefect.settings import PREFECT_API_URL
from pydantic import ValidationError

from tasks.config import FlowConfig, ServeOptions
from tasks.core.errors import ConfigError

logger = logging.getLogger(__name__)

FLOW_NAME = "mnist-flow"
DEFAULT_NAME = ServeOptions.model_fields["name"].default
REPO_ROOT = Path(__file__).resolve().parents[1]


def cron_schedule(cron: str, timezone: str, *, active: bool = True) -> Any:
    """A Prefect cron schedule; ConfigError naming the option when either part is invalid."""
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"--timezone: unknown time zone {timezone!r}; use an IANA name such "
                          f"as UTC or Europe/Berlin") from None
    try:
        CronSchedule(cron=cron, timezone=timezone)
    except ValidationError:
        raise ConfigError(f'--cron: {cron!r} is not a cron expression; expected five fields '
                          f'such as "0 3 * * 0" (Sundays at 03:00)') from None
    return Cron(cron, timezone=timezone, active=active)


def deployment_parameters(config: FlowConfig) -> dict[str, Any]:
    """The deployment's parameters; the artifacts and intake folders made absolute, as runs
    may start in another working directory."""
    retraining = config.retraining
    if retraining.incoming is not None:
        retraining = retraining.model_copy(update={"incoming": retraining.incoming.resolve()})
    absolute = config.model_copy(update={"artifacts_dir": Path(config.artifacts_dir).resolve(),
                                         "retraining": retraining})
    return {"config": absolute.model_dump(mode="json")}


def schedule_state(flow_name: str = FLOW_NAME, deployment_name: str = DEFAULT_NAME,
                   ) -> dict[str, Any]:
    """What a redeploy must keep: ``{"exists", "paused", "active", "schedule_on", "directory"}``.

    ``paused`` is the deployment's pause switch; ``active`` is False when the user switched
    any of its schedules off; ``schedule_on`` is neither (for ``prefect.yaml``, whose
    ``paused`` cannot be templated: there the pause is carried by the schedule instead). A new
    deployment is unpaused and active. ``directory`` is this checkout, for the pull step.
    Usable as a ``prefect.yaml`` build step.
    """
    state = {"exists": False, "paused": False, "active": True, "schedule_on": True,
             "directory": str(REPO_ROOT)}
    with get_client(sync_client=True) as client:
        try:
            deployment = client.read_deployment_by_name(f"{flow_name}/{deployment_name}")
        except ObjectNotFound:
            return state
    paused = bool(deployment.paused)
    active = all(schedule.active for schedule in deployment.schedules or [])
    logger.info("deployment %s/%s exists: paused %s, schedules active %s", flow_name,
                deployment_name, paused, active)
    return {**state, "exists": True, "paused": paused, "active": active,
            "schedule_on": active and not paused}


def serve(config: FlowConfig, *, name: str, cron: str, timezone: str) -> None:
    """Register (or update) the deployment and serve it until interrupted."""
    from flows.mnist_flow import mnist_flow

    schedule = cron_schedule(cron, timezone)  # validate before any call to the server
    if not PREFECT_API_URL.value():
        raise ConfigError("serve needs a Prefect server that outlives it: start one with "
                          "`prefect server start --background` or set PREFECT_API_URL")
    state = schedule_state(FLOW_NAME, name)
    if state["paused"] or not state["active"]:
        logger.warning("deployment %s/%s stays paused as the user left it (deployment paused: "
                       "%s, schedule active: %s); resume it in the dashboard", FLOW_NAME, name,
                       state["paused"], state["active"])
    deployment = mnist_flow.to_deployment(
        name=name, schedules=[dataclasses.replace(schedule, active=state["active"])],
        paused=state["paused"], parameters=deployment_parameters(config),
        description=f"Retrain {config.data.dataset} on '{cron}' ({timezone}).",
        entrypoint_type=EntrypointType.MODULE_PATH)
    # Prefect pauses a served deployment when serve stops, and its next start would resume
    # it: a pause by the user could not be told apart. Not pausing on shutdown keeps the
    # switch the user's alone; runs due while serve is down wait and run when it is back.
    # prefect.serve (not Flow.serve) starts each run as `python -m prefect.engine`, which
    # imports the flow module; Flow.serve would pickle the flow into a child by value, losing
    # the FlowConfig annotation the parameters are validated against.
    prefect_serve(deployment, pause_on_shutdown=False)


def serve_command(args: argparse.Namespace) -> None:
    """``mnist-flow serve``: register the deployment and serve it until Ctrl-C."""
    from flows.options import config_from_args, given, validate
    from tasks.config import ServeOptions

    options = validate(ServeOptions, given(args, ServeOptions))
    try:
        serve(config_from_args(args), name=options.name, cron=options.cron,
              timezone=options.timezone)
    except SystemExit as stop:
        # Prefect's runner exits 0 on a SIGTERM that lands before its loop has started.
        if stop.code not in (0, None):
            raise
    # prefect.serve catches Ctrl-C itself and returns: end like every other subcommand.
    raise KeyboardInterrupt
