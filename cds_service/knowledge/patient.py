"""Patient context from Conditions and Observations (docs/clinical-rules.md §1.5): code lists, active status, recent tests.

Pure functions over plain dictionaries, read leniently (any FHIR version): a Condition's ``code`` is matched
against the lists in ``data/code_lists.json`` by ICD-10-CM category range or prefix, SNOMED CT code, or text;
an Observation by LOINC code or name (``cds_service/data/observation_codes.json``).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

from .lenient import items, parse_date

ICD10CM = ("http://hl7.org/fhir/sid/icd-10-cm", "http://hl7.org/fhir/sid/icd-10", "urn:oid:2.16.840.1.113883.6.90")
SNOMED = ("http://snomed.info/sct", "urn:oid:2.16.840.1.113883.6.96")
LOINC = "http://loinc.org"
_DATA = Path(__file__).parent / "data" / "code_lists.json"
_OBS = Path(__file__).resolve().parents[1] / "data" / "observation_codes.json"
_INACTIVE = {"inactive", "resolved", "remission", "entered-in-error"}
_NOT_CONFIRMED = {"refuted", "entered-in-error"}


@dataclass(frozen=True)
class CodeList:
    name: str
    ranges: tuple[tuple[str, str], ...]
    prefixes: tuple[str, ...]
    snomed: frozenset[str]
    text: tuple[str, ...]
    text_exclude: tuple[str, ...]
    excluded_prefixes: tuple[str, ...] = ()  # ICD-10-CM codes inside a range or prefix that do not count (D57.3)

    def __post_init__(self) -> None:
        # Prefixes as sets per length: a value set of 1,900 ICD-10-CM codes is matched in a few lookups.
        def by_length(codes):
            flat = {c.replace(".", "").upper() for c in codes}
            return tuple((n, frozenset(c for c in flat if len(c) == n)) for n in sorted({len(c) for c in flat}))
        object.__setattr__(self, "_prefix_sets", by_length(self.prefixes))
        object.__setattr__(self, "_excluded_sets", by_length(self.excluded_prefixes))

    def matches_concept(self, concept: Any) -> bool:
        if not isinstance(concept, dict):
            return False
        texts = [concept.get("text")] if isinstance(concept.get("text"), str) else []
        icd_coded = False
        for coding in items(concept.get("coding")):
            if not isinstance(coding, dict):
                continue
            system, code = str(coding.get("system") or ""), str(coding.get("code") or "")
            if isinstance(coding.get("display"), str):
                texts.append(coding["display"])
            if system in ICD10CM and code:
                if self._icd(code):
                    return True
                icd_coded = True
            if system in SNOMED and code in self.snomed:
                return True
        if icd_coded and (self.ranges or self.prefixes):
            # ICD-10-CM is a whole classification and the list names its codes: a code outside the list decides
            # (M47.816 "spondylosis without ... radiculopathy" is not neuropathic pain). SNOMED lists are partial,
            # so a SNOMED code outside them leaves the decision to the text.
            return False
        lowered = " ".join(texts).lower()
        if any(x in lowered for x in self.text_exclude):
            return False
        return any(t in lowered and not _negated(lowered, t) for t in self.text)

    def _icd(self, code: str) -> bool:
        flat = code.replace(".", "").upper()
        if any(flat[:n] in codes for n, codes in self._excluded_sets):
            return False
        if any(flat[:n] in codes for n, codes in self._prefix_sets):
            return True
        category = flat[:3]
        return any(lo <= category <= hi for lo, hi in self.ranges)


_NEGATION_RE = re.compile(r"\b(?:without|no|not|denies|negative for|non-?)\s*(?:[a-z]+\s+){0,3}$")


def _negated(text: str, term: str) -> bool:
    """Every mention of ``term`` follows a negation within three words ("without radiculopathy")."""
    starts = [m.start() for m in re.finditer(re.escape(term), text)]
    return bool(starts) and all(_NEGATION_RE.search(text[max(0, i - 40):i]) for i in starts)


def _build(name: str, spec: Mapping[str, Any], extra: Mapping[str, Any]) -> CodeList:
    def both(key: str) -> list:
        return list(spec.get(key, [])) + list(extra.get(key, []))
    snomed = set(both("snomed"))
    if spec.get("snomed_value_sets_file"):  # generated from published value sets (scripts/build_exclusion_codes.py)
        generated = json.loads((_DATA.parent / spec["snomed_value_sets_file"]).read_text(encoding="utf-8"))
        chosen = spec.get("snomed_value_sets")  # some of the file's sets, or all of them
        snomed.update(code for name, vs in generated["value_sets"].items() if chosen is None or name in chosen
                      for code in vs["snomed"])
    prefixes = both("icd10cm_prefixes")
    if spec.get("value_sets"):  # published value sets (data/value_sets.json, scripts/build_value_sets.py)
        from .observations import value_set_codes

        for key in spec["value_sets"]:
            snomed |= value_set_codes(key, SNOMED[0])
            prefixes += sorted(value_set_codes(key, ICD10CM[0]))
    return CodeList(name, tuple(tuple(r) for r in both("icd10cm_ranges")), tuple(prefixes),
                    frozenset(snomed), tuple(t.lower() for t in both("text")),
                    tuple(t.lower() for t in both("text_exclude")), tuple(both("icd10cm_excluded_prefixes")))


@lru_cache(maxsize=8)
def _load(extra_json: str) -> dict[str, CodeList]:
    data = json.loads(_DATA.read_text(encoding="utf-8"))
    extra = json.loads(extra_json)
    unknown = set(extra) - set(data)
    if unknown:
        raise ValueError(f"CODE_LISTS_EXTRA names unknown code lists: {sorted(unknown)}")
    return {name: _build(name, spec, extra.get(name, {})) for name, spec in data.items() if not name.startswith("_")}


def code_lists(extra: Mapping[str, Any] | None = None) -> dict[str, CodeList]:
    """The code lists, extended by a site's additions (same shape as code_lists.json)."""
    return _load(json.dumps(extra or {}, sort_keys=True))


def status_codes(value: Any) -> set[str]:
    """Codes of a status that is a CodeableConcept (R4) or a plain code (DSTU2, STU3)."""
    if isinstance(value, dict):
        return {str(c.get("code")) for c in items(value.get("coding")) if isinstance(c, dict)}
    return {str(value)} if value else set()


def condition_is_active(condition: Mapping[str, Any], today: date) -> bool:
    """Active unless its clinical status says otherwise, it has abated, or it was refuted or entered in error."""
    if status_codes(condition.get("clinicalStatus")) & _INACTIVE:
        return False
    if status_codes(condition.get("verificationStatus")) & _NOT_CONFIRMED:
        return False
    abated = parse_date(condition.get("abatementDateTime"))
    return abated is None or abated > today


_CARE_STATUS = {"Procedure": {"in-progress", "completed"}, "ServiceRequest": {"active"},
                "Encounter": {"in-progress", "arrived", "onleave"}}


def in_care_of_list(records: Iterable[Mapping[str, Any]], code_list: "CodeList", today: date) -> bool:
    """A current Procedure, ServiceRequest or Encounter coded in the list (hospice or palliative care recorded
    as care, not as a diagnosis: docs/clinical-rules.md §4.4). Current means: an active order or referral, an encounter in
    progress, or a procedure in progress or completed over a period that has not ended. A completed procedure
    on one day (an admission to hospice years ago) does not count: nothing says the care goes on."""
    for record in records:
        kind = record.get("resourceType")
        if str(record.get("status") or "") not in _CARE_STATUS.get(str(kind), ()):
            continue
        if kind == "Encounter":
            concepts = items(record.get("type")) + [record.get("serviceType")]
            period = record.get("period")
        else:
            concepts = [record.get("code")]
            period = record.get("performedPeriod") if kind == "Procedure" else None
        if kind == "Procedure" and record.get("status") == "completed" and not isinstance(period, dict):
            continue
        if isinstance(period, dict) and (end := parse_date(period.get("end"))) is not None and end < today:
            continue
        if any(code_list.matches_concept(c) for c in concepts):
            return True
    return False


def age_on(birth_date: date | None, today: date) -> int | None:
    if birth_date is None:
        return None
    return today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))


@lru_cache(maxsize=1)
def _observation_groups() -> dict[str, dict]:
    data = json.loads(_OBS.read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_")}


def _observation_date(resource: Mapping[str, Any]) -> date | None:
    for key in ("effectiveDateTime", "issued", "performedDateTime"):
        if (d := parse_date(resource.get(key))) is not None:
            return d
    for key in ("effectivePeriod", "performedPeriod"):
        period = resource.get(key)
        if isinstance(period, dict) and (d := parse_date(period.get("end") or period.get("start"))) is not None:
            return d
    return None


def latest_documented(resources: Iterable[Mapping[str, Any]], group: str, today: date,
                      within_days: int) -> Mapping[str, Any] | None:
    """The most recent Observation or Procedure of ``group`` (e.g. "ecg") dated within ``within_days``."""
    spec = _observation_groups()[group]
    codes = set(items(spec.get("codes")))
    words = [w.lower() for w in items(spec.get("text"))]
    since = today - timedelta(days=within_days)
    best: tuple[date, Mapping[str, Any]] | None = None
    for resource in resources:
        if not isinstance(resource, dict) or resource.get("status") in ("entered-in-error", "cancelled", "not-done"):
            continue
        concept = resource.get("code") if isinstance(resource.get("code"), dict) else {}
        codings = [c for c in items(concept.get("coding")) if isinstance(c, dict)]
        text = " ".join([str(concept.get("text") or "")] + [str(c.get("display") or "") for c in codings]).lower()
        coded = any(str(c.get("code")) in codes and c.get("system") == spec.get("system") for c in codings)
        if not (coded or any(w in text for w in words)):
            continue
        when = _observation_date(resource)
        if when is None or when < since or when > today:
            continue
        if best is None or when > best[0]:
            best = (when, resource)
    return best[1] if best else None
