"""Every row of the team's medication-name table (fhir_fixtures/medication_names.csv, names in every style EHRs
and prescribers use, with what a pharmacist reads from each): no name may be read with a wrong ingredient,
strength, route, release or patch flag. Unknown is allowed (the dose is then incomplete and the card says so);
the shares right / incomplete / wrong are measured by benchmarks/name_coverage.py, not asserted here."""
from __future__ import annotations

from collections import Counter

import pytest

from cds_service.knowledge.drugs import DrugKnowledge
from fhir_fixtures.name_table import concept_of, rows, score

K = DrugKnowledge.load()
ROWS = rows()


def test_the_table_covers_every_style():
    styles = Counter(r["style"] for r in ROWS)
    assert len(ROWS) >= 400 and len(styles) >= 6
    assert min(styles.values()) >= 40, styles


@pytest.mark.parametrize("row", ROWS, ids=[f"{r['style']}:{r['text'] or r['code']}" for r in ROWS])
def test_no_name_is_read_confidently_wrong(row):
    result = score(row, K.identify(concept_of(row)))
    assert result.verdict != "wrong", result.notes
