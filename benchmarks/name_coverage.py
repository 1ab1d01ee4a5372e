"""Coverage of medication names as EHRs write them, and the time to read one (issue: identification plus daily
dose under 20 us per medication).

Usage: python benchmarks/name_coverage.py [--rounds 20]
Reads fhir_fixtures/medication_names.csv (names written by the team in every style, with what a pharmacist reads
from each) and prints, per style and in all, the share read fully right, the share left incomplete (some field
unknown, none wrong) and the share read confidently wrong (must be 0), then the product table's own figure
(RxNorm names fully read), then the median and 90th percentile time per name of identification + daily dose on
a Q6H tablet sig, cold (the identification cache cleared each round: every name read for the first time) and
warm (a worker that has read these names before).
"""
from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cds_service.knowledge.dosing import daily_dose  # noqa: E402
from cds_service.knowledge.drugs import DATA, DrugKnowledge  # noqa: E402
from fhir_fixtures.name_table import concept_of, rows, score  # noqa: E402

SIG = [{"timing": {"repeat": {"frequency": 1, "period": 6, "periodUnit": "h"}, "code": {"text": "Q6H"}},
        "doseAndRate": [{"doseQuantity": {"value": 1, "code": "{tbl}"}}]}]


def main(rounds: int) -> None:
    knowledge = DrugKnowledge.load()
    table = rows()
    by_style: dict[str, Counter] = defaultdict(Counter)
    wrong = []
    for row in table:
        result = score(row, knowledge.identify(concept_of(row)))
        by_style[row["style"]][result.verdict] += 1
        by_style["all"][result.verdict] += 1
        if result.verdict == "wrong":
            wrong.append((row["text"] or row["code"], result.notes))
    print(f"{'style':<18} {'names':>5} {'right':>7} {'incomplete':>10} {'wrong':>6}")
    for style in sorted(by_style, key=lambda s: (s == "all", s)):
        c = by_style[style]
        n = sum(c.values())
        print(f"{style:<18} {n:>5} {c['right'] / n:>7.1%} {c['incomplete'] / n:>10.1%} {c['wrong'] / n:>6.1%}")
    for name, notes in wrong:
        print("  WRONG:", name, "|", "; ".join(notes))
    with (DATA / "products.csv").open(encoding="utf-8") as fh:
        products = [r for r in csv.DictReader(line for line in fh if not line.startswith("#"))]
    full = sum(1 for r in products if (p := knowledge.product_from_name(r["name"])) is not None
               and all(c.strength_mg is not None for c in p.components))
    print(f"product table: {full}/{len(products)} RxNorm names read with every known ingredient's strength")
    concepts = [concept_of(r) for r in table]
    for label, clear in (("cold", True), ("warm", False)):
        times = []
        for _ in range(rounds):
            if clear:
                knowledge.identify_concept.cache_clear()
            start = time.perf_counter()
            for concept in concepts:
                product = knowledge.identify(concept)
                if product is not None:
                    daily_dose(SIG, product)
            times.append((time.perf_counter() - start) / len(concepts) * 1e6)
        times.sort()
        print(f"identify + daily dose, {label}, per name: median {statistics.median(times):.1f} us, "
              f"p90 {times[int(len(times) * 0.9) - 1]:.1f} us over {rounds} rounds of {len(concepts)} names")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    main(parser.parse_args().rounds)
