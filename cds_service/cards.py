"""Card rendering: findings + ``cards/<rule-id>.yaml`` -> CDS Hooks 2.0 card JSON.

The only code that knows the card JSON. Every word a clinician reads comes from the card files, which are
checked when the app starts (schema, one file per rule, placeholders the rule provides, absolute URLs).
Optional fields are left out, never null or empty (CDS Hooks 2.0).
"""
from __future__ import annotations

import json
import logging
import re
import string
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import jsonschema
import yaml

from .fhir.versions import from_r4
from .rules.base import Finding

log = logging.getLogger(__name__)


def _load_yaml(text: str):
    """Safe YAML loading, with libyaml's C loader when PyYAML has it (the same safe constructors, about ten times
    faster: 32 card files are read at every start)."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506  (a safe loader)


SUMMARY_MAX = 139
INDICATOR_ORDER = {"critical": 0, "warning": 1, "info": 2}
_SCHEMA = json.loads((Path(__file__).parent / "schemas" / "card-file.schema.json").read_text(encoding="utf-8"))
_VALIDATOR = jsonschema.validators.validator_for(_SCHEMA)(_SCHEMA)  # the schema itself is checked by a test
_COMMON_FIELDS = {"patient_id", "today", "target_name", "target_ref", "missing", "problem"}


class CardFileError(Exception):
    """A card file is missing, malformed or uses a placeholder its rule does not provide."""


def _placeholders(value: Any) -> set[str]:
    names: set[str] = set()
    if isinstance(value, str):
        for _, name, _, _ in string.Formatter().parse(value):
            if name:
                names.add(name.split(".")[0].split("[")[0])
    elif isinstance(value, dict):
        for v in value.values():
            names |= _placeholders(v)
    elif isinstance(value, list):
        for v in value:
            names |= _placeholders(v)
    return names


class _Fields(dict):
    """Template values; a literal ``{tbl}`` UCUM code in a resource template stays as written."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


_WHOLE_FIELD = re.compile(r"\{(\w+)\}")


def _fill(value: Any, fields: dict) -> Any:
    """Placeholders filled in; a value that is one placeholder of a number stays a number (FHIR's ``frequency``)."""
    if isinstance(value, str):
        whole = _WHOLE_FIELD.fullmatch(value)
        if whole and isinstance(fields.get(whole.group(1)), (int, float)) and not isinstance(fields[whole.group(1)], bool):
            return fields[whole.group(1)]
        return value.format_map(_Fields(fields)) if "{" in value else value
    if isinstance(value, dict):
        return {k: _fill(v, fields) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, fields) for v in value]
    return value


RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
RXNORM_OID = "urn:oid:2.16.840.1.113883.6.88"  # how Epic reads RxNorm in a created resource


def topic_code(rule_id: str) -> str:
    """The rule id in letters and digits only (``high-mme`` -> ``HighMme``): Epic accepts no other topic code and
    ties a clinician's override to it, so it is derived, static, and checked unique at start."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", rule_id) if part)


@dataclass
class RenderContext:
    patient_id: str
    today: str
    fhir_version: str  # "R4", "STU3" or "DSTU2": created resources are written in this version
    indicator_overrides: dict[str, str]
    client: str = "standard"  # "epic": the shape Epic documents (see ``_for_epic``); anything else: the spec's


@dataclass
class Shown:
    """A rendered card, the rule it is for, its finding, and the lesser rules folded into it."""

    card: dict
    rule_id: str
    finding: Finding | None = None
    folded: tuple[str, ...] = ()  # rule ids of the findings folded into the card as lines
    lines: tuple[Finding, ...] = ()  # those findings


SOURCES_MARK = "\n\n**Sources:** "
FOLDED_EXTENSION = "pain-medication-safety.folded"  # the topic codes of the findings a card's lines carry


class CardCatalog:
    """Every rule's card file, loaded and checked once."""

    def __init__(self, directory: Path, rule_fields: dict[str, Iterable[str]]):
        self.directory = Path(directory)
        common_path = self.directory / "_common.yaml"
        if not common_path.exists():
            raise CardFileError(f"{common_path} is missing")
        self.common = _load_yaml(common_path.read_text(encoding="utf-8"))
        self.cards: dict[str, dict] = {}
        self.rule_ids = list(rule_fields)
        for rule_id, fields in rule_fields.items():
            path = self.directory / f"{rule_id}.yaml"
            if not path.exists():
                raise CardFileError(f"no card file for rule {rule_id}: {path}")
            try:
                data = _load_yaml(path.read_text(encoding="utf-8"))
                error = jsonschema.exceptions.best_match(_VALIDATOR.iter_errors(data))
                if error is not None:
                    raise error
            except (yaml.YAMLError, jsonschema.ValidationError) as exc:
                raise CardFileError(f"{path.name}: {getattr(exc, 'message', exc)}") from None
            if data["rule"] != rule_id:
                raise CardFileError(f"{path.name}: 'rule' says {data['rule']}, expected {rule_id}")
            for key, suggestion in data.get("suggestions", {}).items():
                for action in suggestion["actions"]:
                    concept = (action.get("resource") or {}).get("medicationCodeableConcept")
                    if concept is not None and not any(c.get("code") for c in concept.get("coding", [])):
                        raise CardFileError(f"{path.name}: suggestion {key} orders a drug without a code; a client "
                                            "cannot apply it (name the drug in the detail instead)")
            allowed = set(fields) | _COMMON_FIELDS | set(data.get("phrases", {})) | set(data.get("items", {}))
            texts = {k: data[k] for k in ("summary", "detail", "variants", "phrases", "suggestions") if k in data}
            unknown = _placeholders(texts) - allowed - _placeholders_in_resources(data)
            if unknown:
                raise CardFileError(f"{path.name}: placeholders the rule does not provide: {sorted(unknown)}")
            self.cards[rule_id] = data
        self._override_displays: dict[str, str] = {}
        self._snooze_days: dict[tuple[str, str], int] = {}  # (rule, the card's own reason code) -> days
        for rule_id, spec in self.cards.items():
            for reason in spec.get("override_reasons", []):
                self._override_displays.setdefault(reason["code"], reason["display"])
                days = reason.get("snooze_days")
                if days:
                    self._snooze_days[(rule_id, reason["code"])] = days
                if days and self.is_critical(rule_id):
                    raise CardFileError(f"{rule_id}.yaml: a critical card's override reason cannot snooze the rule")
        codes = [topic_code(r) for r in [*self.rule_ids, "check-failed"]]
        bad = [c for c in codes if not (c.isascii() and c.isalnum() and len(c) <= 100)]
        if bad or len(set(codes)) != len(codes):
            raise CardFileError(f"rule ids must give distinct topic codes of letters and digits: {bad or codes}")

    def snooze_days(self, rule_id: str | None, code: str | None) -> int | None:
        """How many days an override reason silences its rule for the patient: only a reason the rule's own card
        offers with ``snooze_days`` (a reason another card offers snoozes nothing)."""
        return self._snooze_days.get((rule_id, code)) if rule_id and code else None

    def reason_display(self, rule_id: str, code: str) -> str | None:
        """The words the rule's own card offers for an override reason code (codes recur across cards)."""
        return next((r["display"] for r in self.cards.get(rule_id, {}).get("override_reasons", [])
                     if r["code"] == code), None)

    def can_snooze(self, rule_id: str) -> bool:
        return any(rule == rule_id for rule, _ in self._snooze_days)

    def override_display(self, code: str) -> str | None:
        """The words a card offered for an override reason code (feedback may send the code alone)."""
        return self._override_displays.get(code)

    def loaded(self) -> bool:
        """Every rule has its card file (checked at start; readiness reports it)."""
        return bool(self.cards) and set(self.rule_ids) <= set(self.cards)

    def card_texts(self, rule_id: str) -> dict:
        return self.cards[rule_id]

    def render(self, finding: Finding, ctx: RenderContext) -> dict:
        spec = self.cards[finding.rule_id]
        texts = {**spec, **(spec.get("variants", {}).get(finding.variant, {}) if finding.variant else {})}
        fields: dict[str, Any] = {"patient_id": ctx.patient_id, "today": ctx.today, **finding.fields}
        phrases = spec.get("phrases", {})
        for name in phrases:
            if name in fields:
                fields[name] = self._phrase(phrases[name], fields[name], fields)
        for name, template in spec.get("items", {}).items():
            if name.endswith("_empty"):
                continue
            lines = []
            for raw in finding.lists.get(name, []):
                item = {**fields, **raw}
                if "role" in raw:
                    item["when"] = self._when(raw)
                for key in raw:
                    if key in phrases:
                        item[key] = self._phrase(phrases[key], raw[key], item)
                lines.append(template.format_map(_Fields(item)))
            if not lines and f"{name}_empty" in spec["items"]:
                lines = [spec["items"][f"{name}_empty"]]
            fields[name] = "\n".join(lines)
        summary = texts["summary"].format_map(_Fields(fields)).strip()
        if len(summary) > SUMMARY_MAX:
            log.warning("summary of %s longer than %d characters, shortened", finding.rule_id, SUMMARY_MAX)
            summary = summary[: SUMMARY_MAX - 1].rstrip() + "…"
        detail = texts["detail"].format_map(_Fields(fields)).strip()
        if finding.fields.get("missing"):
            detail += "\n\n" + self.common["missing_data"].format(missing=", ".join(finding.fields["missing"]))
        if spec.get("references"):  # the card's own source is its source label: shown by the EHR, not repeated
            detail += SOURCES_MARK + "; ".join(spec["references"]) + "."
        indicator = ctx.indicator_overrides.get(finding.rule_id) or texts.get("indicator") or spec["indicator"]
        card: dict[str, Any] = {
            "uuid": str(uuid.uuid4()),
            "summary": summary,
            "indicator": indicator,
            "detail": detail,
            "source": {
                "label": spec["source"]["label"],
                "topic": {"system": self.common["topic_system"], "code": finding.rule_id, "display": spec["title"]},
            },
        }
        if ctx.client == "epic":
            card["source"]["topic"]["code"] = topic_code(finding.rule_id)
        if spec["source"].get("url"):
            card["source"]["url"] = spec["source"]["url"]
        suggestions = self._suggestions(spec, finding, fields, ctx)
        if suggestions and ctx.client == "epic":
            card["suggestions"] = _for_epic(suggestions)
            card["selectionBehavior"] = "any"
        elif suggestions:
            card["suggestions"] = suggestions
            card["selectionBehavior"] = spec.get("selection_behavior", "at-most-one")
        card["overrideReasons"] = [
            {"code": r["code"], "system": self.common["override_reason_system"], "display": r["display"]}
            for r in spec["override_reasons"]]
        if spec.get("links"):
            card["links"] = [{"label": link["label"], "url": link["url"], "type": "absolute"} for link in spec["links"]]
        return card

    def fold(self, shown: list[Shown], draft_refs: set[str] = frozenset()) -> list[Shown]:
        """A draft with a critical card gets one card: the warning and info findings about the same draft become
        short lines of it (summary and source), so that the critical message is not diluted by four others. The
        folded rules are still counted (``Shown.folded``); their suggestions are not carried over (the critical
        card asks for a different order)."""
        critical = {s.finding.draft.ref: s for s in shown if s.finding is not None and s.card["indicator"] == "critical"}
        out: list[Shown] = []
        lines: dict[int, list[Shown]] = {}
        for s in shown:
            host = critical.get(s.finding.draft.ref) if s.finding is not None else None
            # A finding that also names another draft (a benzodiazepine drafted beside the patch, a regimen total
            # with an oxycodone draft) stays a card of its own: it may be the other order that should change.
            other_drafts = s.finding is not None and bool(
                (set(s.finding.key()[1]) & set(draft_refs)) - {s.finding.draft.ref})
            if host is None or host is s or s.card["indicator"] == "critical" or other_drafts:
                out.append(s)
            else:
                lines.setdefault(id(host), []).append(s)
        for s in out:
            folded = lines.get(id(s))
            if not folded:
                continue
            body, _, sources = s.card["detail"].partition(SOURCES_MARK)
            sources = sources.removesuffix(".")
            extra = []
            for f in folded:
                extra.append(self.common["folded"]["line"].format(title=self.cards[f.rule_id]["title"],
                                                                 summary=f.card["summary"]))
                label = f.card["source"]["label"]
                if label not in sources and label != s.card["source"]["label"]:
                    sources = f"{sources}; {label}" if sources else label
            s.card["detail"] = (body + "\n\n" + self.common["folded"]["heading"] + "\n" + "\n".join(extra)
                                + (SOURCES_MARK + sources + "." if sources else ""))
            s.folded = tuple(f.rule_id for f in folded)
            s.lines = tuple(f.finding for f in folded)
            epic = s.card["source"]["topic"]["code"] != s.rule_id
            s.card["extension"] = {FOLDED_EXTENSION: [topic_code(r) if epic else r for r in s.folded]}
        return out

    def is_critical(self, rule_id: str) -> bool:
        """Whether any card of the rule is critical (its failure must then be visible)."""
        spec = self.cards.get(rule_id, {})
        return "critical" in {spec.get("indicator"), *(v.get("indicator") for v in spec.get("variants", {}).values())}

    def render_failure(self, rule_id: str, ctx: RenderContext) -> dict:
        """An info card saying a critical check could not run (a defect, logged and counted), so that the
        prescriber does not read silence as safety."""
        texts = self.common["check_failed"]
        title = self.cards[rule_id]["title"]
        return {
            "uuid": str(uuid.uuid4()),
            "summary": texts["summary"].format(title=title)[:SUMMARY_MAX],
            "indicator": "info",
            "detail": texts["detail"].format(title=title, rule_id=rule_id),
            "source": {"label": texts["source"],
                       "topic": {"system": self.common["topic_system"],
                                 "code": topic_code("check-failed") if ctx.client == "epic" else "check-failed",
                                 "display": f"Check could not run: {title}"}},
        }

    @staticmethod
    def _phrase(choices: dict, value: Any, fields: dict) -> str:
        """A code (or a list of codes, joined) replaced by its wording from the card file."""
        if isinstance(value, (list, tuple)):
            words = [choices.get(v, str(v)).format_map(_Fields(fields)) for v in value]
            return ", ".join(words) if words else choices.get("", "none")
        return choices[value].format_map(_Fields(fields)) if value in choices else value

    def _when(self, item: dict) -> str:
        """When a medication was or is taken, in the wording of cards/_common.yaml."""
        when = self.common["when"]
        kind = when["kinds"].get(item.get("kind"), when["kinds"]["other"])
        since = when["since"].format(start=item["start"]) if item.get("start") else ""
        until = when["until"].format(end=item["end"]) if item.get("end") else ""
        return when[item["role"]].format(kind=kind, since=since, until=until).strip()

    def _suggestions(self, spec: dict, finding: Finding, fields: dict, ctx: RenderContext) -> list[dict]:
        out: list[dict] = []
        for key in finding.suggestions:
            template = spec.get("suggestions", {}).get(key)
            if template is None:
                continue
            targets_all = any(a.get("target") == "removable" for a in template["actions"])
            targets = list(finding.removable) if targets_all else [finding.draft]
            for target in targets:
                if any(a["type"] == "delete" for a in template["actions"]) and (
                        target.role != "draft" or "#" in target.ref):
                    continue  # only a draft with an id can be removed
                local = {**fields, "target_name": target.display, "target_ref": target.ref}
                actions = []
                for action in template["actions"]:
                    rendered: dict[str, Any] = {"type": action["type"],
                                                "description": action["description"].format_map(_Fields(local))}
                    if action["type"] == "delete":
                        rendered["resourceId"] = target.ref
                    elif "resource" in action:
                        resource = _fill(action["resource"], local)  # _fill builds a new structure
                        rendered["resource"] = from_r4(resource, ctx.fhir_version)
                    actions.append(rendered)
                out.append({"label": template["label"].format_map(_Fields(local)),
                            "uuid": str(uuid.uuid4()), "actions": actions})
        return out


def _for_epic(suggestions: list[dict]) -> list[dict]:
    """Epic takes one action per suggestion and reads RxNorm as its OID: a suggestion with several actions (a
    "replace": remove the draft, order another drug) becomes one suggestion per action, the order keeping the
    suggestion's label and a removal labelled by its own description; a removal offered twice is offered once.
    With ``selectionBehavior: any`` the prescriber can take both halves of a replace."""
    offered = {a["resourceId"] for s in suggestions if len(s["actions"]) == 1 for a in s["actions"]
               if a["type"] == "delete"}
    out: list[dict] = []
    for suggestion in suggestions:
        actions = suggestion["actions"]
        if len(actions) == 1:
            out.append({**suggestion, "actions": [_rxnorm_as_oid(actions[0])]})
            continue
        for action in actions:
            if action["type"] == "delete":
                if action["resourceId"] in offered:
                    continue  # the card already offers this removal on its own
                offered.add(action["resourceId"])
                out.append({"label": action["description"], "uuid": str(uuid.uuid4()), "actions": [action]})
            else:
                first = not any(o["uuid"] == suggestion["uuid"] for o in out)
                out.append({"label": suggestion["label"], "uuid": suggestion["uuid"] if first else str(uuid.uuid4()),
                            "actions": [_rxnorm_as_oid(action)]})
    return out


def _rxnorm_as_oid(action: dict) -> dict:
    resource = action.get("resource")
    concept = (resource or {}).get("medicationCodeableConcept")
    if not concept or not concept.get("coding"):
        return action
    coding = [{**c, "system": RXNORM_OID} if c.get("system") == RXNORM else c for c in concept["coding"]]
    return {**action, "resource": {**resource, "medicationCodeableConcept": {**concept, "coding": coding}}}


def _placeholders_in_resources(data: dict) -> set[str]:
    """Literal braces in FHIR resource templates (UCUM annotations such as ``{tbl}``) are not placeholders."""
    names: set[str] = set()
    for suggestion in data.get("suggestions", {}).values():
        for action in suggestion.get("actions", []):
            if "resource" in action:
                names |= _placeholders(action["resource"]) - _COMMON_FIELDS
    return names


def order_cards(shown: list[Shown], cap: int) -> list[Shown]:
    """Critical before warning before info; at most ``cap`` cards, dropping info first, never a critical; an
    order a card has already offered is not offered again by a lesser card (its removal still is)."""
    ordered = sorted(shown, key=lambda s: INDICATOR_ORDER.get(s.card["indicator"], 3))
    if len(ordered) > cap:
        critical = [s for s in ordered if s.card["indicator"] == "critical"]
        rest = [s for s in ordered if s.card["indicator"] != "critical"]
        ordered = critical + rest[: max(0, cap - len(critical))]
    offered: set[str] = set()
    for s in ordered:
        _drop_repeated_orders(s.card, offered)
    return ordered


def _order_key(action: dict) -> str | None:
    resource = action.get("resource") if action.get("type") == "create" else None
    if not isinstance(resource, dict):
        return None
    concept = resource.get("medicationCodeableConcept") or resource.get("code") or {}
    codes = sorted(f"{c.get('system')}|{c.get('code')}" for c in concept.get("coding", []))
    return f"{resource.get('resourceType')}:{','.join(codes)}" if codes else None


def _drop_repeated_orders(card: dict, offered: set[str]) -> None:
    """Two cards that each offer oxycodone (a patch and an ER opioid for a naive patient) would have the prescriber
    order it twice: the first card keeps the order; a later suggestion keeps only its other actions."""
    kept = []
    for suggestion in card.get("suggestions", []):
        keys = [_order_key(a) for a in suggestion["actions"]]
        repeated = [k is not None and k in offered for k in keys]
        offered.update(k for k in keys if k)
        if not any(repeated):
            kept.append(suggestion)
            continue
        rest = [a for a, r in zip(suggestion["actions"], repeated) if not r]
        same = [s for s in card.get("suggestions", []) if s is not suggestion and s["actions"] == rest]
        if rest and not same:  # what is left of it, unless the card offers exactly that already
            kept.append({**suggestion, "label": rest[0]["description"] if len(rest) == 1 else suggestion["label"],
                         "actions": rest})
    if kept:
        card["suggestions"] = kept
    else:
        card.pop("suggestions", None)
        card.pop("selectionBehavior", None)
