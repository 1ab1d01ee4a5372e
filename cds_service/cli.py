"""Command line: ``serve`` (production WSGI server), ``config``, ``evaluate REQUEST.json`` and ``cards``."""
from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sys
import tempfile
from datetime import datetime, timezone


def available_cpus(cpu_max: str = "/sys/fs/cgroup/cpu.max") -> int:
    """CPUs this process may use: its affinity, capped by a cgroup v2 CPU quota (a container limited to 2 CPUs
    on a 64-core host gets 2 workers, not 64)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        with open(cpu_max, encoding="ascii") as fh:
            quota, period = fh.read().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, int(int(quota) / int(period) + 0.5)))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


def _serve(args: argparse.Namespace, make_app=None) -> int:
    """Run the app under gunicorn. ``make_app`` (default: the service) lets the benchmark serve its framework
    floor, a minimal view, under exactly this configuration."""
    from .config import load_settings

    settings = load_settings()  # a bad setting stops here, before anything is started or created
    # Workers share metrics through files in this directory; it must be set before prometheus_client is imported.
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="cds-metrics-")
    metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    for name in os.listdir(metrics_dir):  # values of an earlier run must not be added to this one's
        if name.endswith(".db"):
            os.remove(os.path.join(metrics_dir, name))

    from gunicorn import glogging
    from gunicorn.app.base import BaseApplication
    from prometheus_client import multiprocess

    from . import create_app
    from .observability import configure_logging

    configure_logging(settings["LOG_FORMAT"], settings["LOG_LEVEL"])
    app = (make_app or create_app)()  # card files and the store are checked here, before a worker is forked
    # The drug tables, schemas and models loaded above live as long as the process: move them out of the
    # collector's reach, so a full collection in a worker does not walk them (a pause of tens of milliseconds
    # at the tail of the latency distribution) and forked workers keep sharing their pages.
    gc.freeze()
    options = {
        "bind": f"{args.host or settings['HOST']}:{args.port or settings['PORT']}",
        "workers": args.workers or settings["WORKERS"] or available_cpus(),
        "threads": args.threads or settings["THREADS"],
        "timeout": args.timeout or settings["TIMEOUT"],
        "graceful_timeout": settings["GRACEFUL_TIMEOUT"],
        "accesslog": None,  # access logs carry query strings; the app logs one safe line per call
        "worker_tmp_dir": "/dev/shm" if os.path.isdir("/dev/shm") else None,
        "post_fork": lambda _server, _worker: app.extensions["cds_store"].after_fork(),
        "worker_exit": lambda _server, _worker: app.extensions["cds_store"].close(),  # writes queued card records
        "child_exit": lambda _server, worker: multiprocess.mark_process_dead(worker.pid),
    }

    class _ServerLogger(glogging.Logger):
        """gunicorn's own lines (start, worker exits) through the service's formatter, JSON by default."""

        def setup(self, cfg) -> None:
            super().setup(cfg)
            for logger in (self.error_log, self.access_log):
                logger.handlers[:] = []
                logger.propagate = True

    class _Server(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)
            self.cfg.set("logger_class", _ServerLogger)
            if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 24: no socket in a read-only home
                self.cfg.set("control_socket_disable", True)

        def load(self):
            return app

    try:
        _Server().run()
    finally:
        if metrics_dir.startswith(tempfile.gettempdir()) and os.path.basename(metrics_dir).startswith("cds-metrics-"):
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _config(args: argparse.Namespace) -> int:
    """Print the effective settings (secrets masked), or the reference page with --docs."""
    from .config import load_settings, masked, reference

    if args.docs:
        sys.stdout.write(reference())
        return 0
    json.dump(masked(load_settings()), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


class UsageError(Exception):
    """A command-line argument that cannot be used: one line, exit status 2."""


# What evaluate never takes from the environment: it is a read-only, in-process debugging tool. A run in a
# production pod must not write "cards shown" into the governance figures, nor need the pod's token settings.
_NOT_FOR_EVALUATE = ("CDS_AUTH_MODE", "CDS_DATABASE_URL", "CDS_DATABASE", "CDS_TRUSTED_ISSUERS", "CDS_PUBLIC_BASE_URL")


def _evaluate(args: argparse.Namespace) -> int:
    """Print the response a hook request file gets, as the HTTP API would answer it; nothing is stored."""
    from . import create_app

    try:
        with open(args.request, encoding="utf-8") as fh:
            body = json.load(fh)
    except OSError as exc:
        raise UsageError(f"cannot read {args.request}: {exc.strerror}") from None
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"{args.request} is not JSON ({exc})"[:300]) from None
    fixed = None
    if args.now:
        try:
            fixed = datetime.fromisoformat(args.now)
        except ValueError:
            raise UsageError(f"--now {args.now!r}: expected an ISO 8601 date or time, e.g. 2026-11-22") from None
        fixed = fixed.replace(tzinfo=timezone.utc) if fixed.tzinfo is None else fixed
    for name in _NOT_FOR_EVALUATE:
        os.environ.pop(name, None)
    with tempfile.TemporaryDirectory() as tmp:
        config = {"DATABASE_URL": "", "DATABASE": os.path.join(tmp, "evaluate.sqlite3"), "AUTH_MODE": "development"}
        if fixed is not None:
            config["CLOCK"] = lambda: fixed
        app = create_app(config)
        service = args.service or {
            "order-select": "pain-medication-safety-order-select",
            "order-sign": "pain-medication-safety-order-sign",
            "medication-prescribe": "pain-medication-safety-medication-prescribe",
        }.get(body.get("hook") if isinstance(body, dict) else None, "unknown")
        response = app.test_client().post(f"/cds-services/{service}", json=body)
        app.extensions["cds_store"].close()
    json.dump(response.get_json(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0 if response.status_code == 200 else 1


def _cards(args: argparse.Namespace) -> int:
    """Print the clinical review document (every rule's card, rendered from its fixture)."""
    from pathlib import Path

    from .config import load_settings
    from .engine import Engine
    from .review import render_review

    sys.stdout.write(render_review(Engine(load_settings()), Path(args.fixtures)))
    return 0


def main(argv: list[str] | None = None) -> int:
    from . import __version__
    from .cards import CardFileError
    from .config import ConfigError
    from .review import FIXTURES

    parser = argparse.ArgumentParser(prog="cds-service", description=__doc__.replace("``", "`"))
    parser.add_argument("--config", metavar="FILE", help="a TOML settings file (same as CDS_CONFIG_FILE)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the service under gunicorn (options override settings)")
    serve.add_argument("--host", help="address to bind (setting HOST)")
    serve.add_argument("--port", type=int, help="port (setting PORT)")
    serve.add_argument("--workers", type=int, help="worker processes (setting WORKERS; 0 = one per available CPU)")
    serve.add_argument("--threads", type=int, help="threads per worker (setting THREADS)")
    serve.add_argument("--timeout", type=int, help="seconds before a stuck worker is restarted (setting TIMEOUT)")
    serve.set_defaults(func=_serve)
    config = sub.add_parser("config", help="print the effective settings, secrets masked")
    config.add_argument("--docs", action="store_true", help="print the reference page (docs/configuration.md)")
    config.set_defaults(func=_config)
    evaluate = sub.add_parser("evaluate", help="print the cards for a hook request file")
    evaluate.add_argument("request", help="a CDS Hooks request body (JSON file)")
    evaluate.add_argument("--service", help="service id (default: the one for the request's hook)")
    evaluate.add_argument("--now", help="evaluate as of this date or time (ISO 8601), e.g. for dated fixtures")
    evaluate.set_defaults(func=_evaluate)
    cards = sub.add_parser("cards", help="print every rule's card as a prescriber sees it (Markdown)")
    cards.add_argument("--fixtures", default=str(FIXTURES), help="the fhir_fixtures directory")
    cards.set_defaults(func=_cards)
    args = parser.parse_args(argv)
    if args.config:
        os.environ["CDS_CONFIG_FILE"] = args.config
    try:
        return args.func(args)
    except (ConfigError, CardFileError) as exc:
        sys.stderr.write(f"cds-service: configuration error: {exc}\n")
        return 2
    except UsageError as exc:
        sys.stderr.write(f"cds-service {args.command}: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
