"""Settings: defaults, then an optional TOML file, then a mapping given to create_app, then ``CDS_*`` variables.

Every setting is declared once in ``SETTINGS`` (name, default, meaning); ``docs/configuration.md`` is generated
from it (``cds-service config --docs``, kept current by a test) and ``cds-service config`` prints the effective
values with secrets masked. Environment values are parsed by the setting's type: lists are comma-separated,
mappings are JSON, numbers and booleans as written. A TOML file uses the same names in lower case
(``max_cards = 8``, ``[trusted_issuers."https://ehr.example.org"]``). Any invalid value, or an unknown key in
the TOML file, stops the start with a ``ConfigError`` that names the setting.
"""
from __future__ import annotations

import difflib
import json
import os
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from .outbound import UnsafeUrl, check_base

ROOT = Path(__file__).resolve().parents[1]


def bundled(package: str, checkout_dir: str) -> Path:
    """Run-time data that lives at the top of the repository (``cards/``, ``fhir_fixtures/``) and ships inside the
    wheel as ``cds_service/<package>``: the installed package's directory (importlib.resources) when the wheel
    carries it, else the checkout's (a clone, an editable install)."""
    installed = Path(str(resources.files("cds_service") / package))
    return installed if installed.is_dir() else ROOT / checkout_dir


class ConfigError(ValueError):
    """A setting is invalid; the message names it and says what is expected."""


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    doc: str
    group: str
    secret: bool = False
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None


SETTINGS: tuple[Setting, ...] = (
    # Serving
    Setting("HOST", "127.0.0.1", "Address `cds-service serve` binds (`0.0.0.0` in a container).", "Serving"),
    Setting("PORT", 8080, "Port `cds-service serve` listens on.", "Serving", minimum=1, maximum=65535),
    Setting("WORKERS", 0, "Worker processes; 0 means one per CPU the process may use (its affinity and a "
            "container's cgroup CPU quota).", "Serving", minimum=0),
    Setting("THREADS", 4, "Threads per worker (a hook call may wait on the FHIR server).", "Serving", minimum=1),
    Setting("TIMEOUT", 30, "Seconds a worker may spend on one request before it is restarted.", "Serving", minimum=1),
    Setting("GRACEFUL_TIMEOUT", 20, "Seconds given to requests in flight when the server stops.", "Serving", minimum=0),
    Setting("PROXIES", 0, "Reverse proxies in front that set `X-Forwarded-For` and `X-Forwarded-Proto` (the image's "
            "nginx: 1, set by its entrypoint). The review page's login throttle keys on the address they report; "
            "0: the peer address.", "Serving", minimum=0),
    Setting("MAX_CONTENT_LENGTH", 5 * 1024 * 1024, "Largest request body accepted (bytes); larger ones get 413.",
            "Serving", minimum=1024),
    Setting("MAX_DRAFT_ORDERS", 200, "Most medication orders checked in one hook call; more is a 400 that asks the "
            "EHR to send them in parts (checking some of them would be a silent gap).", "Serving", minimum=1),
    Setting("PUBLIC_BASE_URL", "", "The URL the EHR calls this service at (e.g. `https://cds.hospital.example`); a "
            "JWT's `aud` must be it plus the path called. Required when `AUTH_MODE` is `required`: the `Host` "
            "header never decides the audience.", "Serving"),
    # Store
    Setting("DATABASE_URL", "", "SQLAlchemy URL of the shared store, e.g. "
            "`postgresql+psycopg://cds:secret@db:5432/cds`. Empty: the SQLite file `DATABASE`.", "Store", secret=True),
    Setting("DATABASE", "cds-service.sqlite3", "SQLite file used when `DATABASE_URL` is empty; a relative path is "
            "under the Flask instance folder. One machine only: replicas need `DATABASE_URL`.", "Store"),
    # Security
    Setting("AUTH_MODE", "required", "`required`: every discovery, hook and feedback call must carry a JWT from a "
            "trusted issuer. `development`: unsigned calls accepted (warned at start).", "Security",
            choices=("required", "development")),
    Setting("TRUSTED_ISSUERS", {}, "Per issuer (`iss`): `{\"jwks\": {...}}`, `{\"jwks_file\": path}` or "
            "`{\"jwks_url\": url}`, and optionally `\"jku_allowlist\": [url, ...]` and `\"sub\": client-id` "
            "(a token must then name that client: Epic's client id).", "Security"),
    Setting("JWT_LEEWAY_SECONDS", 60, "Clock skew allowed on `exp`, `nbf` and `iat`.", "Security", minimum=0),
    Setting("JWKS_MIN_REFRESH_SECONDS", 300, "Least time between two fetches of an issuer's JWKS.", "Security",
            minimum=0),
    Setting("CORS_ALLOWED_ORIGINS", ["*"], "Origins allowed to call from a browser (`*` for any; CDS Hooks uses "
            "no cookies).", "Security"),
    Setting("ADMIN_USER", "admin", "User name for the review page and its data (HTTP Basic).", "Security"),
    Setting("ADMIN_PASSWORD", "", "Password for the review page. Empty: the page is open in `development` mode and "
            "refused (403) in `required` mode.", "Security", secret=True),
    # FHIR server
    Setting("FHIR_SERVER_ALLOWLIST", [], "FHIR base URLs the service may call with the client's token when "
            "prefetch is missing (scheme, host, port, path prefix). Empty: never fetch.", "FHIR server"),
    Setting("FHIR_CONNECT_TIMEOUT", 3.0, "Seconds to connect to the FHIR server.", "FHIR server", minimum=0.01),
    Setting("FHIR_READ_TIMEOUT", 10.0, "Seconds to wait for one FHIR response.", "FHIR server", minimum=0.01),
    Setting("FHIR_DEADLINE", 8.0, "One hook call's total budget for FHIR fetches (seconds).", "FHIR server",
            minimum=0.01),
    Setting("FHIR_MAX_PAGES", 10, "Most pages followed for one search.", "FHIR server", minimum=1),
    Setting("FHIR_MAX_RESOURCES", 10_000, "Most resources all the FHIR searches of one hook call may return together; "
            "beyond it the search that passes it fails whole (never a partial medication list). Reading grows "
            "linearly: 2,000 records cost about 0.18 s (BENCHMARKS.md), so 10,000 about 0.9 s.", "FHIR server",
            minimum=1),
    Setting("FHIR_MAX_BYTES", 10 * 1024 * 1024, "Largest FHIR response read (bytes).", "FHIR server", minimum=1024),
    # Rules and cards
    Setting("MAX_CARDS", 10, "Most cards per response; info cards are dropped first, critical ones never "
            "(0: critical cards only).", "Rules and cards", minimum=0),
    Setting("CLIENT_PROFILE", "auto", "Card shape: `epic` (topic codes of letters and digits, `selectionBehavior: any`, "
            "one action per suggestion, RxNorm as `urn:oid:2.16.840.1.113883.6.88`), `standard` (the CDS Hooks "
            "spec's, rule ids as topic codes), or `auto`: `epic` for requests carrying Epic's "
            "`com.epic.cdshooks.request.*` extensions.", "Rules and cards", choices=("auto", "standard", "epic")),
    Setting("FOLD_INTO_CRITICAL", True, "A draft with a critical card gets that one card: the warning and info "
            "findings about the same draft become short lines of it (still counted per rule). `false`: one card "
            "per finding.", "Rules and cards"),
    Setting("MEMORY_SECRET", "", "Key of the HMAC under which the service remembers answers (a card overridden at "
            "order-select is not shown again at order-sign; a snoozing override reason silences its rule for the "
            "patient). Only keyed hashes and expiries are stored, never a patient id. Empty: nothing is remembered. "
            "At least 32 characters; the same on every replica.", "Rules and cards", secret=True),
    Setting("SESSION_MEMORY_MINUTES", 720, "How long an overridden card stays silent for the same draft and "
            "finding (an ordering session: order-select, then order-sign).", "Rules and cards", minimum=1),
    Setting("RULES_DISABLED", [], "Rule ids switched off.", "Rules and cards"),
    Setting("RULES_ENABLED", [], "Rule ids switched on that are off by default because a source they depend on "
            "is not yet verified (the card review page says which and why).", "Rules and cards"),
    Setting("RULE_INDICATORS", {}, "Indicator per rule id (`info`, `warning`, `critical`).", "Rules and cards"),
    Setting("RULE_PARAMS", {}, "Parameter overrides per rule id (names, defaults and sources: each rule's "
            "declaration in `cds_service/rules/<rule>.py`, listed on the card review page).", "Rules and cards"),
    Setting("RENAL_RESULT_MAX_AGE_DAYS", 365, "How old a creatinine, weight or eGFR may be and still give the "
            "renal dose rules a creatinine clearance. No source read gives a window: 365 days is a project "
            "default that the site's governance sets (docs/clinical-rules.md §1.6).", "Rules and cards", minimum=1),
    Setting("CODE_LISTS_EXTRA", {}, "Additions to the condition code lists, e.g. "
            "`{\"cancer\": {\"text\": [\"glioma\"]}}`.", "Rules and cards"),
    Setting("CARDS_DIR", str(bundled("card_files", "cards")),
            "Directory of the card files (`<rule-id>.yaml`, `_common.yaml`).",
            "Rules and cards"),
    Setting("EXAMPLES_DIR", str(bundled("examples", "fhir_fixtures")),
            "The `fhir_fixtures` directory whose scenarios the review "
            "page renders as each rule's example card.", "Rules and cards"),
    # Observability
    Setting("LOG_FORMAT", "json", "`json`: one JSON object per line (for log shippers); `text`: for a terminal.",
            "Observability", choices=("json", "text")),
    Setting("LOG_LEVEL", "INFO", "Least level logged.", "Observability",
            choices=("DEBUG", "INFO", "WARNING", "ERROR")),
    Setting("METRICS_ENABLED", True, "Serve Prometheus metrics at `/metrics`.", "Observability"),
)
BY_NAME = {s.name: s for s in SETTINGS}
DEFAULTS: dict[str, Any] = {s.name: s.default for s in SETTINGS}


def _type_name(default: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", list: "list", dict: "mapping"}.get(type(default), "text")


def _from_env(raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        value = raw.strip().lower()
        if value not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            raise ValueError("expected true or false")
        return value in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, list):
        return [part.strip() for part in raw.split(",") if part.strip()]
    if isinstance(default, dict):
        return json.loads(raw)
    return raw


def _check(setting: Setting, value: Any) -> Any:
    """The value if it has the setting's type and range; a ConfigError naming it otherwise."""
    default, where = setting.default, f"CDS_{setting.name}"
    expected = _type_name(default)
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, list):
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        expected = "list of text"
    elif isinstance(default, dict):
        ok = isinstance(value, dict)
    else:
        ok = isinstance(value, str)
    if not ok:
        raise ConfigError(f"{where}: expected {expected}, got {value!r}" if not setting.secret
                          else f"{where}: expected {expected}")
    if setting.choices and value not in setting.choices:
        raise ConfigError(f"{where}: must be one of {', '.join(setting.choices)}, not {value!r}")
    if setting.minimum is not None and value < setting.minimum:
        raise ConfigError(f"{where}: must be at least {setting.minimum:g}, not {value!r}")
    if setting.maximum is not None and value > setting.maximum:
        raise ConfigError(f"{where}: must be at most {setting.maximum:g}, not {value!r}")
    return value


def read_toml(path: str | os.PathLike) -> dict[str, Any]:
    """Settings from a TOML file (lower-case names); unknown keys are errors, not silently ignored."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"CDS_CONFIG_FILE: cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"CDS_CONFIG_FILE: {path} is not valid TOML: {exc}") from None
    out = {}
    for key, value in data.items():
        name = key.upper()
        if name not in BY_NAME:
            raise ConfigError(f"{path}: unknown setting '{key}' (see docs/configuration.md)")
        out[name] = value
    return out


# CDS_ variables that are not settings: the settings file, and the test suite's and benchmarks' databases.
NOT_SETTINGS = frozenset({"CDS_CONFIG_FILE", "CDS_TEST_DATABASE_URL", "CDS_BENCH_DATABASE_URL"})


def load_settings(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> dict:
    """Defaults, then the TOML file (``CDS_CONFIG_FILE`` or ``CONFIG_FILE``), then ``overrides``, then ``CDS_*``.

    Keys of ``overrides`` that are not settings (``CLOCK`` in tests) pass through unchecked.
    """
    env = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    settings = dict(DEFAULTS)
    config_file = env.get("CDS_CONFIG_FILE") or overrides.pop("CONFIG_FILE", None)
    if config_file:
        settings.update(read_toml(config_file))
    settings.update(overrides)
    for name in env:
        if name.startswith("CDS_") and name[4:] not in BY_NAME and name not in NOT_SETTINGS:
            close = difflib.get_close_matches(name[4:], list(BY_NAME), n=1)
            hint = f"; did you mean CDS_{close[0]}?" if close else " (see docs/configuration.md)"
            raise ConfigError(f"{name}: not a setting{hint}")
    for setting in SETTINGS:
        raw = env.get(f"CDS_{setting.name}")
        if raw is None:
            continue
        try:
            settings[setting.name] = _from_env(raw, setting.default)
        except ValueError as exc:
            detail = "" if setting.secret else f": {exc}"
            raise ConfigError(f"CDS_{setting.name}: expected {_type_name(setting.default)}{detail}") from None
    for setting in SETTINGS:
        settings[setting.name] = _check(setting, settings[setting.name])
    for entry in settings["FHIR_SERVER_ALLOWLIST"]:
        try:
            check_base(entry)
        except UnsafeUrl as exc:
            raise ConfigError(f"CDS_FHIR_SERVER_ALLOWLIST: {entry!r} is refused ({exc})") from None
    _check_database_url(settings["DATABASE_URL"])
    if settings["MEMORY_SECRET"] and len(settings["MEMORY_SECRET"]) < 32:
        raise ConfigError("CDS_MEMORY_SECRET: at least 32 characters (a short key makes the stored hashes of patient "
                          "ids guessable)")
    check_rule_settings(settings)
    return settings


def _check_database_url(url: str) -> None:
    if not url:
        return
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        raise ConfigError("CDS_DATABASE_URL: not a database URL (postgresql+psycopg://user@host/db or "
                          "sqlite:///path)") from None
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(f"CDS_DATABASE_URL: unsupported database '{backend}' (use postgresql+psycopg:// or sqlite://)")


INDICATORS = ("info", "warning", "critical")


def _unknown(name: str, known, setting: str, what: str) -> ConfigError:
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(sorted(known))})"
    return ConfigError(f"CDS_{setting}: unknown {what} {name!r}{hint}")


def check_rule_settings(settings: Mapping[str, Any]) -> None:
    """Rule ids, indicators and parameter names and types in the rule settings: a misspelt one would be
    ignored silently (a rule left on, a threshold left at its default), or make a rule raise on every call."""
    from .knowledge.patient import code_lists
    from .rules import DEFAULT_PARAMS, RULES

    for setting in ("RULES_DISABLED", "RULES_ENABLED"):
        for rule_id in settings[setting]:
            if rule_id not in RULES:
                raise _unknown(rule_id, RULES, setting, "rule id")
    for rule_id, indicator in settings["RULE_INDICATORS"].items():
        if rule_id not in RULES:
            raise _unknown(rule_id, RULES, "RULE_INDICATORS", "rule id")
        if indicator not in INDICATORS:
            raise ConfigError(f"CDS_RULE_INDICATORS[{rule_id!r}]: must be one of {', '.join(INDICATORS)}, "
                              f"not {indicator!r}")
    for rule_id, params in settings["RULE_PARAMS"].items():
        if rule_id not in RULES:
            raise _unknown(rule_id, RULES, "RULE_PARAMS", "rule id")
        defaults = DEFAULT_PARAMS[rule_id]
        if not isinstance(params, dict):
            raise ConfigError(f"CDS_RULE_PARAMS[{rule_id!r}]: expected a mapping of parameter names to values")
        for name, value in params.items():
            if name not in defaults:
                raise _unknown(name, defaults, f"RULE_PARAMS[{rule_id!r}]", "parameter") if defaults else \
                    ConfigError(f"CDS_RULE_PARAMS[{rule_id!r}]: this rule has no parameters")
            if not _same_kind(value, defaults[name]):
                raise ConfigError(f"CDS_RULE_PARAMS[{rule_id!r}][{name!r}]: expected "
                                  f"{type(defaults[name]).__name__} like the default {defaults[name]!r}, "
                                  f"not {value!r}")
    try:
        code_lists(settings["CODE_LISTS_EXTRA"])
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ConfigError(f"CDS_CODE_LISTS_EXTRA: not in the shape of code_lists.json ({type(exc).__name__})") from None


def _same_kind(value, default) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float)) and value == value and abs(value) != float("inf") and (
            isinstance(default, float) or isinstance(value, int) or value.is_integer())
    if isinstance(default, list):
        return isinstance(value, list) and all(_same_kind(v, default[0]) for v in value) if default else \
            isinstance(value, list)
    return isinstance(value, type(default))


def masked(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings with secrets hidden: a database URL keeps all but its password."""
    from .store import safe_url

    out = {}
    for setting in SETTINGS:
        value = settings[setting.name]
        if setting.secret and value:
            value = safe_url(value) if setting.name == "DATABASE_URL" else "***"
        out[setting.name] = value
    return out


def reference() -> str:
    """docs/configuration.md: every setting, its variable, TOML key, type and default."""
    out = ["# Configuration reference", "",
           "Generated by `cds-service config --docs`; do not edit by hand (a test keeps it current).", "",
           "Every setting can be given as an environment variable `CDS_<NAME>` or as a lower-case key in a TOML "
           "file named by `CDS_CONFIG_FILE` (or `--config FILE`). Environment variables win over the file. "
           "In the environment, lists are comma-separated and mappings are JSON; in TOML, use TOML arrays and "
           "tables. An invalid value or an unknown key stops the start with a message naming the setting. "
           "`cds-service config` prints the effective values (secrets masked).", "",
           "Example `cds-service.toml`:", "", "```toml",
           'database_url = "postgresql+psycopg://cds:secret@db.internal:5432/cds"',
           'fhir_server_allowlist = ["https://fhir.hospital.example/r4/"]',
           "workers = 4", "max_cards = 8", 'rules_disabled = ["opioid-bowel-regimen"]', "",
           '[trusted_issuers."https://ehr.hospital.example"]',
           'jwks_url = "https://ehr.hospital.example/.well-known/jwks.json"', "```", ""]
    group = None
    for setting in SETTINGS:
        if setting.group != group:
            group = setting.group
            out += [f"## {group}", "", "| Variable | TOML key | Type | Default | Meaning |", "|---|---|---|---|---|"]
        default = setting.default
        if setting.name in ("CARDS_DIR", "EXAMPLES_DIR"):
            default = "`cards/` of the installation" if setting.name == "CARDS_DIR" else \
                "`fhir_fixtures/` of the installation"
        elif isinstance(default, (list, dict)):
            default = f"`{json.dumps(default)}`"
        elif isinstance(default, bool):
            default = f"`{str(default).lower()}`"
        else:
            default = f"`{default}`" if default != "" else "(empty)"
        kind = _type_name(setting.default)
        if setting.choices:
            kind = " or ".join(f"`{c}`" for c in setting.choices)
        doc = setting.doc + (" *Secret: masked in `cds-service config`.*" if setting.secret else "")
        out.append(f"| `CDS_{setting.name}` | `{setting.name.lower()}` | {kind} | {default} | {doc} |")
        if setting is SETTINGS[-1] or SETTINGS[SETTINGS.index(setting) + 1].group != group:
            out.append("")
    out += ["## Other variables", "",
            "| Variable | Meaning |", "|---|---|",
            "| `CDS_CONFIG_FILE` | The TOML file read at start (optional). |",
            "| `PROMETHEUS_MULTIPROC_DIR` | Directory where workers share metrics; `cds-service serve` creates a "
            "private one when it is not set. |", ""]
    return "\n".join(out)
