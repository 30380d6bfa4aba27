"""validate: new images are checked before they train (docs/validation.md).

Between intake and train. It judges every row intake accepted (label sanity, leakage of test
or held-out images, repeats, drift), moves the refused files out of the intake folder into
``<dataset>/quarantine/`` and writes the rows that may train and evaluate; train and promote
read these instead of intake's. Keyed on intake's outputs, the thresholds and, only when the
intake folder holds files, the production model that judges labels: a promotion must not make
an unchanged empty intake rerun anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from tasks.core.inbox import list_files
from tasks.core.production import read_production
from tasks.dashboard import post
from tasks.engine.cache import finish
from tasks.engine.manifest import Manifest
from tasks.engine.stage import Stage
from tasks.splits import load_stage_split

# A batch of 3,000 refused files is named in quarantine.json; the log and the thumbnails show
# the first ones (decoding 3,000 pictures again for a picture nobody reads would cost ~1 s).
LOGGED_FILES = 20
THUMBNAILS_SHOWN = 400

if TYPE_CHECKING:
    from tasks.core.label_check import Scorer
    from tasks.core.validate_intake import ValidationOutcome
    from tasks.core.validation_config import ValidationConfig


@task(name="validate")
def check_new_images(data: Manifest, intake: Manifest, inbox: Path, out_dir: Path,
                     quarantine_dir: Path, dataset_dir: Path, settings: ValidationConfig,
                     production: str | None) -> dict[str, Any]:
    """Judge intake's rows; quarantine the refused files; write ``incoming.parquet`` and
    ``holdout.parquet`` of the kept rows."""
    from tasks.core.validate_intake import IntakeRows, validate_intake
    from tasks.core.validation_report import summary_line, validation_markdown
    from tasks.events import emit_validation_events

    rows = IntakeRows(intake.path("manifest"), intake.path("incoming"), intake.path("holdout"))
    outcome = validate_intake(rows, Path(inbox), Path(out_dir), Path(quarantine_dir),
                              lambda: _reference(data, Path(out_dir)),
                              lambda: _scorer(data, Path(dataset_dir), production), settings)
    verdict, logger = outcome.verdict, get_run_logger()
    logger.info(summary_line(verdict))
    for item in outcome.moved[:LOGGED_FILES]:
        logger.warning("quarantined %s (%s: %s)", item.path, item.check, item.reason)
    if len(outcome.moved) > LOGGED_FILES:
        logger.warning("... and %d more: %s", len(outcome.moved) - LOGGED_FILES,
                       Path(quarantine_dir) / "quarantine.json")
    _publish(data.dataset, outcome, Path(out_dir), Path(quarantine_dir))
    post("the validation report", create_markdown_artifact, key=f"{data.dataset}-validation",
         markdown=validation_markdown(verdict), description="Validation of new images")
    emit_validation_events(data.dataset, str(inbox), outcome)
    return finish({"incoming": outcome.incoming, "holdout": outcome.holdout},
                  dataset=data.dataset, summary=summary_line(verdict),
                  kept=int(verdict.kept.sum()), quarantined=len(outcome.moved),
                  drift=verdict.drift.score, drifted=verdict.drift.drifted)


def _publish(dataset: str, outcome: ValidationOutcome, out_dir: Path,
             quarantine_dir: Path) -> None:
    """The report and thumbnails on disk; the quarantine table on the dashboard."""
    from tasks.core.quarantine import read_table
    from tasks.core.validate_intake import REPORT, THUMBNAILS
    from tasks.core.validation_report import quarantine_markdown, write_report, write_thumbnails

    write_report(out_dir / REPORT, outcome.verdict, dataset)
    # the thumbnails show this validation's refusals: an earlier run's would mislead
    (out_dir / THUMBNAILS).unlink(missing_ok=True)
    if outcome.moved:
        import numpy as np

        from tasks.core.images import load_user_image

        thumbnails = [load_user_image(quarantine_dir / item.stored if item.stored else
                                      Path(item.incoming) / item.path)
                      for item in outcome.moved[:THUMBNAILS_SHOWN]]
        write_thumbnails(out_dir / THUMBNAILS, np.stack(thumbnails))
    post("the quarantine table", create_markdown_artifact, key=f"{dataset}-quarantine",
         markdown=quarantine_markdown(read_table(quarantine_dir)),
         description="Files held out of training; `mnist-flow release FILE` brings one back")


def _reference(data: Manifest, out_dir: Path) -> Any:
    """Base rows and the centred test rows the checks compare with."""
    from tasks.core.validate_intake import BASE_ROWS, centred_test
    from tasks.core.validation import Reference

    X_base, y_base = load_stage_split(data, "train")
    X_test, y_test = load_stage_split(data, "test")
    test = centred_test(out_dir / "reference", data.sha256("test"), X_test)
    return Reference(X_base[:BASE_ROWS], y_base[:BASE_ROWS], test, y_test)


def _scorer(data: Manifest, dataset_dir: Path, production: str | None) -> Scorer:
    """The model that judges labels: the more accurate on the test split of production's
    network and a reference network fitted on the base split (only the latter when nothing is
    in production): a weak production would refuse the genuine digits it misreads."""
    from tasks.core.label_check import fit_reference_scorer, more_accurate, network_scorer

    reference = fit_reference_scorer(*load_stage_split(data, "train"))
    if production is None:
        return reference
    from tasks.core.export import load_weights_csv

    params = load_weights_csv(dataset_dir / "production", dtype="float32")
    return more_accurate([network_scorer(params, f"production model {production}"), reference],
                         *load_stage_split(data, "test"))


def _parameters(config: Any, layout: Any) -> dict[str, Any]:
    inbox = Path(config.retraining.incoming or layout.incoming_dir).resolve()
    # Production judges labels only when there is something to judge: keyed otherwise, a
    # promotion would make the next, unchanged run validate (and train) again.
    record = read_production(layout.dataset_dir) if list_files(inbox) else None
    return {"inbox": inbox, "out_dir": layout.validate_dir,
            "quarantine_dir": layout.quarantine_dir,
            "dataset_dir": layout.dataset_dir, "settings": config.validation,
            "production": record.model if record else None}


validate = Stage("validate", check_new_images,
                 upstream={"data": "preprocess", "intake": "intake"}, parameters=_parameters,
                 unkeyed=("inbox", "dataset_dir"), outputs=("incoming", "holdout"))
