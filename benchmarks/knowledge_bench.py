"""Benchmark: drug identification + daily dose + MME per medication (issue: "median under 20 us").

Usage: python benchmarks/knowledge_bench.py [--rounds 30]
Builds one medication record per product in the product table (half sent with code and RxNorm display, a
quarter code only, a quarter display text only, as EHRs do) with a realistic scheduled or PRN sig, then times,
per medication, identification, daily dose and MME. "cold" clears the identification cache before each round
(every drug seen for the first time in this process); "warm" is a long-running worker that has seen the codes.
Prints the median and 90th percentile per medication over the rounds.
"""
from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cds_service.knowledge.drugs import DATA, RXNORM_SYSTEMS, DrugKnowledge  # noqa: E402
from cds_service.knowledge.mme import medication_mme  # noqa: E402
from cds_service.knowledge.medication import MedicationUse  # noqa: E402

RX = sorted(RXNORM_SYSTEMS)[0]
SIGS = [
    [{"timing": {"repeat": {"frequency": 1, "period": 6, "periodUnit": "h"}}, "asNeededBoolean": True,
      "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet", "code": "{tbl}"}}]}],
    [{"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
      "doseAndRate": [{"doseRange": {"low": {"value": 1, "code": "{tbl}"}, "high": {"value": 2, "code": "{tbl}"}}}]}],
    [{"timing": {"repeat": {"when": ["MORN", "HS"]}}, "doseAndRate": [{"doseQuantity": {"value": 5, "unit": "mL"}}]}],
]


def records(knowledge: DrugKnowledge) -> list[tuple[dict, list]]:
    with (DATA / "products.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    out = []
    for i, row in enumerate(rows):
        shape = i % 4
        if shape in (0, 1):
            concept = {"coding": [{"system": RX, "code": row["rxcui"], "display": row["name"]}]}
        elif shape == 2:
            concept = {"coding": [{"system": RX, "code": row["rxcui"]}]}
        else:
            concept = {"text": row["name"]}
        out.append((concept, SIGS[i % len(SIGS)]))
    return out


def one(knowledge: DrugKnowledge, concept: dict, sig: list) -> None:
    product = knowledge.identify(concept)
    if product is None:
        return
    use = MedicationUse("MedicationRequest/x", "MedicationRequest", "current", product.name, product,
                        {"dosageInstruction": sig}, None, None, "active")
    _ = use.dose  # computed when first read (a rule asks); every medication is dosed here
    medication_mme(use)


def run(rounds: int) -> dict[str, tuple[float, float]]:
    knowledge = DrugKnowledge.load()
    meds = records(knowledge)
    results = {}
    for label, clear in (("cold", True), ("warm", False)):
        per_med = []
        for _ in range(rounds):
            if clear:
                knowledge.identify_concept.cache_clear()
            start = time.perf_counter()
            for concept, sig in meds:
                one(knowledge, concept, sig)
            per_med.append((time.perf_counter() - start) / len(meds) * 1e6)
        per_med.sort()
        results[label] = (statistics.median(per_med), per_med[int(0.9 * (len(per_med) - 1))])
    print(f"{len(meds)} medications x {rounds} rounds (Python {sys.version.split()[0]})")
    for label, (median, p90) in results.items():
        print(f"  {label}: median {median:.1f} us/medication, p90 {p90:.1f} us")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    run(parser.parse_args().rounds)
