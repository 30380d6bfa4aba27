"""``mnist-flow app``: the production model over HTTP, and a page to draw a digit on.

    mnist-flow app                          # http://127.0.0.1:8000 until Ctrl-C
    mnist-flow app --port 8080 --dataset fashion-mnist

Named ``app`` because ``serve`` already means Prefect's scheduled retraining. It answers with
``<artifacts>/<dataset>/production`` and follows it: a model the gate promotes answers from
the next request on, without a restart (:mod:`tasks.core.serving`). No Prefect here: building
the parser imports neither Prefect nor the web stack, which load in :func:`app_command`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from flows.options import add_artifacts_option, add_field_options, given, validate
from tasks.config import DataConfig
from tasks.core.registry import DATASETS
from tasks.layout import Layout
from tasks.serving.options import AppOptions


def app_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``mnist-flow app``, from :class:`AppOptions` and the shared ones."""
    add_field_options(parser, AppOptions, defaults=True)
    parser.add_argument("--dataset", default=DataConfig.model_fields["dataset"].default,
                        choices=sorted(DATASETS), help="whose production model to serve "
                        "(default: mnist)")
    add_artifacts_option(parser)


def app_command(args: argparse.Namespace) -> None:
    """Serve until SIGTERM or Ctrl-C (KeyboardInterrupt); ConfigError for a port in use."""
    from tasks.core.serving import ProductionHolder
    from tasks.serving.app import build_app
    from tasks.serving.server import bind, run

    from threadpoolctl import threadpool_limits

    options = validate(AppOptions, given(args, AppOptions))
    # One image is a (1, 784) product: BLAS threads only spin against the request threads
    threadpool_limits(1)
    dataset_dir = Layout(Path(args.artifacts_dir).resolve(), args.dataset).dataset_dir
    holder = ProductionHolder(dataset_dir)
    app = build_app(holder, class_names=DATASETS[args.dataset].class_names,
                    max_body_bytes=options.max_body_bytes,
                    max_header_bytes=options.max_header_bytes)
    sock = bind(options.host, options.port)

    def started(url: str) -> None:
        print(f"serving the production model of {args.dataset} ({dataset_dir / 'production'}) "
              f"at {url}; Ctrl-C stops", flush=True)

    try:
        run(app, sock, max_header_bytes=options.max_header_bytes, started=started)
    finally:
        sock.close()


if __name__ == "__main__":
    from flows.cli import main

    sys.exit(main(["app", *sys.argv[1:]]))
