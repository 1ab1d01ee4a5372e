"""Rules: pure functions from PatientFacts to Findings, one module per rule, named after its rule id.

A rule module declares ``RULE = Rule(...)`` (``rules/base.py``): its id, the facts it reads, its parameters
with their sources, its exclusion and its ``evaluate(facts, params) -> list[Finding]``. It never imports
Flask, requests or the card JSON; the words a clinician reads live in ``cards/<rule-id>.yaml``. The registry
below is found, not written: every module of this package that declares ``RULE`` is a rule, in the order of
its ``position``. Adding a rule is its module, its card file and its fixtures.
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from .base import FACT_SOURCES, Finding, Param, Rule  # noqa: F401  (the names rule modules and tests use)


def _discover() -> dict[str, Rule]:
    found: list[Rule] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name in ("base", "common") or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        rule = getattr(module, "RULE", None)
        if not isinstance(rule, Rule):
            continue
        if info.name != rule.id.replace("-", "_"):
            raise ImportError(f"rules/{info.name}.py declares rule {rule.id!r}: a rule module is named after its id")
        found.append(rule)
    positions = [r.position for r in found]
    if len(set(positions)) != len(positions):
        raise ImportError("two rules declare the same position")
    return {r.id: r for r in sorted(found, key=lambda r: r.position)}


RULES: dict[str, Rule] = _discover()
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {rid: rule.defaults for rid, rule in RULES.items()}
