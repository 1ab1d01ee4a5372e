"""Parse RxNorm normalized names (SCD, SBD, SCDC) into ingredients, strengths and a dose form.

RxNorm names have a regular grammar (RULES.md 1.2):
    [<quantity> <unit> ]* <ingredient> <strength> <UNIT> [/ <ingredient> <strength> <UNIT>]* [<dose form>] [[Brand]]
e.g. ``72 HR fentanyl 0.025 MG/HR Transdermal System [Duragesic]``,
``acetaminophen 325 MG / oxycodone hydrochloride 5 MG Oral Tablet``,
``1 ML morphine sulfate 10 MG/ML Injection``. Micrograms are written as milligrams (25 mcg/h = 0.025 MG/HR).
EHR display texts are often the same name in another letter case, so matching is case-insensitive.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# Leading quantities: "72 HR", "12 HR", "7 DAY", "1 ML", "0.4 ML", "120 ACTUAT".
_PREFIX_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(hr|day|ml|actuat)\b\s*", re.I)
_BRAND_RE = re.compile(r"\s*\[[^\]]*\]\s*$")
# One component: "<ingredient words> <number> <unit>" followed by the rest of the name.
_COMPONENT_RE = re.compile(
    r"^(?P<name>[a-z][a-z0-9 ,'\-\.\(\)]*?)\s*(?P<value>\d*\.?\d+)\s*"
    r"(?P<unit>mg/ml|mg/hr|mg/actuat|mg/mg|mg/g|mcg/hr|mcg/ml|mcg/actuat|meq/ml|unt/ml|mg|mcg|meq|unt|%)"
    r"(?![a-z/])\s*(?P<rest>.*)$",
    re.I,
)


@dataclass(frozen=True)
class NameComponent:
    """One ingredient of a product name, with its strength as written (units upper case)."""

    text: str
    strength: float
    unit: str


@dataclass(frozen=True)
class ParsedName:
    components: tuple[NameComponent, ...]
    dose_form: str  # e.g. "Extended Release Oral Tablet"; "" for SCDC names
    duration_hours: float | None  # "72 HR" / "12 HR" / "7 DAY"
    volume_ml: float | None  # "1 ML" prefix of a solution or injection
    brand: str | None


def parse_name(name: str) -> ParsedName | None:
    """Parse an RxNorm-style name; ``None`` when it does not follow the grammar."""
    text = " ".join(name.split())
    brand = None
    if m := _BRAND_RE.search(text):
        brand = m.group(0).strip()[1:-1]
        text = text[: m.start()]
    duration = volume = None
    while m := _PREFIX_RE.match(text):
        value, unit = float(m.group(1)), m.group(2).lower()
        if unit == "hr":
            duration = value
        elif unit == "day":
            duration = value * 24
        elif unit == "ml":
            volume = value
        text = text[m.end():]
    parts = [p.strip() for p in re.split(r"\s+/\s+", text)]
    components: list[NameComponent] = []
    dose_form = ""
    for i, part in enumerate(parts):
        m = _COMPONENT_RE.match(part)
        if not m:
            return None
        rest = m.group("rest").strip()
        if rest and i < len(parts) - 1:
            return None  # only the last component may carry the dose form
        unit = m.group("unit").upper()
        components.append(NameComponent(m.group("name").strip().lower(), float(m.group("value")), unit))
        dose_form = rest
    return ParsedName(tuple(components), dose_form, duration, volume, brand)


@dataclass(frozen=True)
class DoseForm:
    route: str  # oral, transdermal, topical, sublingual, buccal, nasal, injection, rectal, inhalation, other, ""
    extended_release: bool
    patch: bool


_ROUTES = (
    ("transdermal", "transdermal"),
    ("sublingual", "sublingual"),
    ("buccal", "buccal"),
    ("nasal", "nasal"),
    ("inject", "injection"),
    ("prefilled syringe", "injection"),
    ("cartridge", "injection"),
    ("auto-injector", "injection"),
    ("rectal", "rectal"),
    ("suppositor", "rectal"),
    ("inhal", "inhalation"),
    ("ophthalmic", "ophthalmic"),
    ("otic", "otic"),
    ("topical", "topical"),
    ("medicated patch", "topical"),
    ("cream", "topical"),
    ("ointment", "topical"),
    ("oral", "oral"),
    ("chewable", "oral"),
    ("tablet", "oral"),
    ("capsule", "oral"),
    ("lozenge", "oral"),
    ("syrup", "oral"),
    ("elixir", "oral"),
)


def classify_dose_form(dose_form: str, duration_hours: float | None = None) -> DoseForm:
    """Route, extended release and patch flags from an RxNorm dose form.

    ``Extended Release`` or a ``12 HR``/``24 HR`` prefix on a non-patch marks ER; ``Delayed Release`` is not ER.
    """
    form = dose_form.lower()
    route = next((r for key, r in _ROUTES if key in form), "other" if form else "")
    patch = route == "transdermal" and ("system" in form or "patch" in form)
    extended = "extended release" in form or (
        duration_hours is not None and route != "transdermal" and "delayed release" not in form)
    return DoseForm(route, extended, patch)
