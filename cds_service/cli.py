"""Command line: ``cds-service serve`` (production WSGI server) and ``cds-service evaluate REQUEST.json``."""
from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timezone


def _serve(args: argparse.Namespace) -> int:
    from gunicorn.app.base import BaseApplication

    import logging

    from . import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = create_app()  # fail here, before forking workers, on a bad setting or card file

    class _Server(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{args.host}:{args.port}")
            self.cfg.set("workers", args.workers)
            self.cfg.set("threads", args.threads)
            self.cfg.set("timeout", args.timeout)
            self.cfg.set("accesslog", None)  # access logs carry query strings; the app logs what is safe

        def load(self):
            return app

    _Server().run()
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    """Print the response a hook request file gets, as the HTTP API would answer it."""
    from . import create_app

    with open(args.request, encoding="utf-8") as fh:
        body = json.load(fh)
    # In-process, no listening socket: there is no caller to authenticate.
    config = {"DATABASE": os.environ.get("CDS_DATABASE", os.path.join(os.getcwd(), "instance", "evaluate.sqlite3")),
              "AUTH_MODE": "development"}
    if args.now:
        fixed = datetime.fromisoformat(args.now).replace(tzinfo=timezone.utc)
        config["CLOCK"] = lambda: fixed
    app = create_app(config)
    service = args.service or {
        "order-select": "pain-medication-safety-order-select",
        "order-sign": "pain-medication-safety-order-sign",
        "medication-prescribe": "pain-medication-safety-medication-prescribe",
    }.get(body.get("hook"), "unknown")
    response = app.test_client().post(f"/cds-services/{service}", json=body)
    json.dump(response.get_json(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0 if response.status_code == 200 else 1


def _cards(args: argparse.Namespace) -> int:
    """Print the clinical review document (every rule's card, rendered from its fixture)."""
    import tempfile
    from pathlib import Path

    from . import create_app
    from .review import REVIEW_DATE, render_review

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"DATABASE": os.path.join(tmp, "review.sqlite3"), "CLOCK": lambda: REVIEW_DATE,
                          "AUTH_MODE": "development"})
        sys.stdout.write(render_review(Path(args.fixtures), app.test_client()))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cds-service", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the service under gunicorn")
    serve.add_argument("--host", default=os.environ.get("CDS_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("CDS_PORT", "8080")))
    serve.add_argument("--workers", type=int, default=int(os.environ.get("CDS_WORKERS", str(os.cpu_count() or 1))))
    serve.add_argument("--threads", type=int, default=int(os.environ.get("CDS_THREADS", "4")))
    serve.add_argument("--timeout", type=int, default=int(os.environ.get("CDS_TIMEOUT", "30")))
    serve.set_defaults(func=_serve)
    evaluate = sub.add_parser("evaluate", help="print the cards for a hook request file")
    evaluate.add_argument("request", help="a CDS Hooks request body (JSON file)")
    evaluate.add_argument("--service", help="service id (default: the one for the request's hook)")
    evaluate.add_argument("--now", help="evaluate as of this date or time (ISO 8601), e.g. for dated fixtures")
    evaluate.set_defaults(func=_evaluate)
    cards = sub.add_parser("cards", help="print every rule's card as a prescriber sees it (Markdown)")
    cards.add_argument("--fixtures", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                                           "fhir_fixtures"), help="the fhir_fixtures directory")
    cards.set_defaults(func=_cards)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
