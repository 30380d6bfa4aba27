"""``mnist-flow promote`` and ``mnist-flow rollback``: a person moves production, on the record.

    mnist-flow promote 3f2a9c1b7d4e --reason "the 7s read right; checked by hand"
    mnist-flow rollback --reason "complaints about 4s since Tuesday"

Both go through production's lock and its log (:mod:`tasks.core.promotion_commit`), as the
gate does, and emit ``mnist-flow.model.promoted`` when a Prefect API is configured. Building
their options imports neither Prefect nor numpy; ``mnist-flow production``'s options live here
too, beside the commands whose history it shows.
"""

from __future__ import annotations

import argparse
import getpass
from pathlib import Path

from flows.options import add_dataset_option
from tasks.core.errors import ConfigError
from tasks.core.production import STORE, Production
from tasks.layout import Layout


def production_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=("show", "repair"), default="show",
                        help="show (the default) prints the production model and its history; "
                             "repair rebuilds a damaged production's link or record from what "
                             "is left")
    parser.add_argument("-n", "--last", type=int, default=10,
                        help="how many past decisions (promotions and refusals) to list "
                             "(default: 10; 0: none)")
    add_dataset_option(parser, "whose production")


def promote_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_id", metavar="MODEL_ID",
                        help="the model to put in production: a folder name under "
                             "ARTIFACTS/DATASET/models (or one promoted before)")
    parser.add_argument("--reason", required=True,
                        help="why, in words (kept in the promotions log)")
    add_dataset_option(parser, "whose production")


def rollback_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", default="no reason given",
                        help="why (kept in the promotions log)")
    add_dataset_option(parser, "whose production")


def promote_command(args: argparse.Namespace) -> None:
    """Force ``args.model_id`` into production; print the line the log keeps."""
    from tasks.core.promotion_commit import force_promote

    layout = Layout(Path(args.artifacts_dir).resolve(), args.dataset)
    folder = _model_folder(layout, args.model_id)
    info = force_promote(layout.dataset_dir, folder, reason=_reason(args.reason), by=_user())
    _announce(args.dataset, info, "forced")


def rollback_command(args: argparse.Namespace) -> None:
    """Put the model production replaced back; print the line the log keeps."""
    from tasks.core.promotion_commit import rollback

    layout = Layout(Path(args.artifacts_dir).resolve(), args.dataset)
    info = rollback(layout.dataset_dir, reason=_reason(args.reason), by=_user())
    _announce(args.dataset, info, "rollback")


def _model_folder(layout: Layout, model_id: str) -> Path:
    if not model_id or "/" in model_id or model_id in (".", ".."):
        raise ConfigError(f"{model_id!r} is not a model id; ids are folder names such as "
                          f"3f2a9c1b7d4e (see `mnist-flow history`)")
    for folder in (layout.models_dir / model_id, layout.dataset_dir / STORE / model_id):
        if folder.is_dir():
            return folder
    raise ConfigError(f"no model {model_id} in {layout.models_dir} nor among the promoted "
                      f"models; `mnist-flow history` lists the trained ones")


def _reason(text: str) -> str:
    text = " ".join(text.split())
    if not text:
        raise ConfigError("--reason is empty; say why production moves, in a few words")
    return text


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container): still a logged decision
        return "unknown user"


def _announce(dataset: str, info: Production, how: str) -> None:
    print(f"promoted: {info.model} is in production ({how}); {info.reason}; it replaced "
          f"{info.previous or 'nothing'}")
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():  # no server configured: no event, and no temporary server
        from tasks.events import emit_production_moved_event

        emit_production_moved_event(dataset, info.model, {
            "outcome": "promoted", "policy": info.policy, "reason": info.reason,
            "candidate": info.model, "production": info.previous,
            "candidate_accuracy": info.accuracy, "summary": f"promoted ({how}): {info.reason}"})
