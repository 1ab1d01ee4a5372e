"""pediatric-codeine-tramadol: codeine or tramadol drafted for a child under 12.

Sources: FDA 2017 drug safety communication (contraindicated under 12: ultra-rapid metabolism, fatal
respiratory depression); tramadol and codeine labels. Reads reported drafts and Patient.birthDate (without
it the rule stays silent, logged).
"""
from __future__ import annotations

import logging
from typing import Any
from .base import Finding, Param, Rule

RULE_ID = "pediatric-codeine-tramadol"
FIELDS = ("draft_name", "draft_ref", "ingredient", "age", "min_age")
log = logging.getLogger(__name__)


def evaluate(facts: Any, params: dict) -> list:
    drafts = [(d, i) for d in facts.reported for i in (d.product.ingredient_names if d.product else ())
              if i in params["ingredients"]]
    if not drafts:
        return []
    if facts.age is None:
        log.info("%s: no birth date, age unknown; rule not applied", RULE_ID)
        return []
    if facts.age >= params["min_age"]:
        return []
    return [Finding(RULE_ID, d, {"draft_name": d.display, "draft_ref": d.ref, "ingredient": i, "age": facts.age,
                                 "min_age": params["min_age"]}, suggestions=("remove-draft",), removable=(d,))
            for d, i in drafts]


RULE = Rule(
    id=RULE_ID, position=190, evaluate=evaluate, fields=FIELDS,
    reads=('drafts', 'patient'),
    params=(
        Param('min_age', 12, "FDA 2017 safety communication: codeine and tramadol contraindicated under 12 years"),
        Param('ingredients', ["codeine", "tramadol"], "FDA 2017 safety communication: codeine and tramadol contraindicated under 12 years"),
    ),
)
