"""``mnist-flow app``: the production model over HTTP, and a page to draw a digit on.

    mnist-flow app                          # http://127.0.0.1:8000 until Ctrl-C
    mnist-flow app --port 8080 --dataset fashion-mnist

Named ``app`` because ``serve`` already means Prefect's scheduled retraining. It answers with
``<artifacts>/<dataset>/production`` and follows it: a model the gate promotes answers from
the next request on, without a restart (:mod:`tasks.core.serving`). No Prefect here: building
the parser (:mod:`flows.app_options`) imports neither Prefect nor the web stack, which load
in :func:`app_command`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from flows.options import given, validate
from tasks.core.registry import DATASETS
from tasks.layout import Layout
from tasks.serving.options import AppOptions


def app_command(args: argparse.Namespace) -> None:
    """Serve until SIGTERM or Ctrl-C (KeyboardInterrupt); ConfigError for a port in use."""
    from tasks.core.serving import ProductionHolder
    from tasks.serving.app import build_app
    from tasks.serving.server import bind, run

    options = validate(AppOptions, given(args, AppOptions))
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
