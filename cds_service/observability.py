"""Logs and metrics for the hospital's monitoring: JSON log lines and Prometheus metrics.

Log lines carry what operations needs (hookInstance, service, status, latency, rule ids) and never a token or
patient data: the hook view logs only the fields below, and the request body is never logged.

Metrics work with several gunicorn workers: ``cds-service serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` before this
module is imported, each worker writes its values there, and ``/metrics`` adds them up (prometheus_client's
multiprocess mode). Without that variable (tests, ``flask run``) the process's own registry is served.
"""
from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timezone

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import REGISTRY, multiprocess

# Fields a log call may attach with ``extra=``; anything else in a record is not written.
LOG_FIELDS = ("event", "hookInstance", "service", "hook", "status", "latency_ms", "rules", "missing", "error",
              "stored", "duplicates", "method", "path")

REQUESTS = Counter("cds_requests_total", "Calls to CDS services by service and HTTP status",
                   ["service", "status"])
LATENCY = Histogram("cds_request_duration_seconds", "Time to answer a CDS service call", ["service"],
                    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
CARDS = Counter("cds_cards_total", "Cards returned by rule and indicator", ["rule", "indicator"])
FHIR_FAILURES = Counter("cds_fhir_fetch_failures_total", "FHIR searches that failed, by prefetch key", ["key"])
UNRECOGNISED = Counter("cds_unrecognised_medications_total",
                       "Medication records no rule could identify (no known RxNorm code or name)")
RULE_ERRORS = Counter("cds_rule_errors_total", "Rules that raised on a request (a defect; the call still answers)",
                      ["rule"])
OTHER_PATIENT = Counter("cds_other_patient_resources_total",
                        "Resources about another patient than the one in context, ignored")
REPLAY_DEGRADED = Counter("cds_replay_check_degraded_total",
                          "Token replay checks made in a worker's memory because the store could not be reached")
MEMORY_FAILURES = Counter("cds_memory_failures_total",
                          "Reads or writes of what was already answered that failed (every card was shown)")
SUPPRESSED = Counter("cds_cards_suppressed_total", "Findings not shown because an earlier answer silenced them",
                     ["rule"])
FEEDBACK = Counter("cds_feedback_total", "Feedback items received (duplicates included), by outcome", ["outcome"])


MAX_LOGGED_TEXT = 200  # characters of any one logged field
MAX_LOGGED_MESSAGE = 8000  # a message (a rule failure logs its traceback frames)
MAX_LOGGED_ITEMS = 50


def bounded(value: object, limit: int = MAX_LOGGED_TEXT) -> object:
    """A log value no client can make large: text cut to ``limit`` characters, lists to 50 items. Every field
    and message passes through here, whatever code logged it (the last line of defence, not the only one)."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + f"…(+{len(value) - limit})"
    if isinstance(value, (list, tuple)):
        items = [bounded(v, limit) for v in value[:MAX_LOGGED_ITEMS]]
        return items + [f"…(+{len(value) - MAX_LOGGED_ITEMS})"] if len(value) > MAX_LOGGED_ITEMS else items
    if isinstance(value, dict):
        return {bounded(str(k)): bounded(v, limit) for k, v in list(value.items())[:MAX_LOGGED_ITEMS]}
    return value


def metrics_payload() -> tuple[bytes, str]:
    """The exposition text: all workers' values when running under ``cds-service serve``."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the known extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name,
                 "message": bounded(record.getMessage(), MAX_LOGGED_MESSAGE)}
        for name in LOG_FIELDS:
            if name in record.__dict__:
                entry[name] = bounded(record.__dict__[name])
        if record.exc_info:
            entry["exception"] = record.exc_info[0].__name__ if record.exc_info[0] else None
        return json.dumps(entry, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """For a terminal: the usual line, then the known extra fields as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = bounded(super().format(record), MAX_LOGGED_MESSAGE)
        extras = [f"{n}={bounded(record.__dict__[n])}" for n in LOG_FIELDS if n in record.__dict__ and n != "event"]
        line = f"{line} {' '.join(extras)}" if extras else line
        return line.replace("\r", "\\r").replace("\n", "\\n")  # one record, one line: no forged entries


def formatter_for(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure_logging(log_format: str, level: str) -> None:
    """Root logging to standard error in the configured format (the server's own loggers included)."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter_for(log_format))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("gunicorn.error", "gunicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
