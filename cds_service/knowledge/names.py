"""Read a medication name in any style EHRs and prescribers write it: ingredients, strengths, route, release.

One reader for every style (docs/clinical-rules.md §5): RxNorm normalized names (``acetaminophen 325 MG / oxycodone
hydrochloride 5 MG Oral Tablet``), Epic's upper-case names (``HYDROCODONE-ACETAMINOPHEN 5-325 MG PO TABS``,
``FENTANYL 25 MCG/HR TD PT72``), tall-man names with the brand in parentheses (``HYDROcodone-acetaminophen
(NORCO) 5-325 MG per tablet``), prescribers' lower-case text (``oxycodone er 20 mg``) and brands alone
(``Percocet 5/325``, ``Ultram``). The words it knows (routes, forms, release markers, salts, abbreviations) are
data with their source (``data/name_vocabulary.json``); the brands come from RxNorm's branded names
(``data/brands.csv``).

Safety first: a strength is read only when it can be tied to its ingredient with certainty. A combination
strength follows the ingredients in the order written (``5-325``: first number, first ingredient); it is kept
only when a product with those strengths exists (or, for one ingredient, when it lies within the strengths the
product table knows). Anything else leaves the strength unknown, so the dose is *incomplete*, never wrong.
Release (immediate / extended) that the name does not tell is unknown, not "immediate".
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .drugs import Ingredient

VOCABULARY = json.loads((Path(__file__).parent / "data" / "name_vocabulary.json").read_text(encoding="utf-8"))

# Strength units as written, in lower case -> (mg per unit of the number, what the strength is per).
_UNITS = {
    "mg": (1.0, "unit"), "mcg": (0.001, "unit"), "ug": (0.001, "unit"), "g": (1000.0, "unit"),
    "mg/ml": (1.0, "mL"), "mcg/ml": (0.001, "mL"), "ug/ml": (0.001, "mL"),
    "mg/hr": (1.0, "h"), "mg/h": (1.0, "h"), "mcg/hr": (0.001, "h"), "mcg/h": (0.001, "h"),
    "ug/hr": (0.001, "h"), "ug/h": (0.001, "h"), "mcg/hour": (0.001, "h"),
    "mg/actuat": (1.0, "actuation"), "mcg/actuat": (0.001, "actuation"), "mg/actuation": (1.0, "actuation"),
    "mcg/actuation": (0.001, "actuation"), "mg/act": (1.0, "actuation"), "mcg/act": (0.001, "actuation"), "mg/spray": (1.0, "actuation"), "mcg/spray": (0.001, "actuation"),
}
_NUM = r"\d*\.?\d+"
_UNIT_RE = (r"(?P<unit>mg/\s*(?P<vol>\d*\.?\d+)\s*ml|mcg/\s*(?P<vol2>\d*\.?\d+)\s*ml|"
            + "|".join(sorted((re.escape(u) for u in _UNITS), key=len, reverse=True)) + r"|meq|unt|%)")
# A strength expression: one number, or numbers joined by - or / (a combination), then a unit or nothing.
_STRENGTH_RE = re.compile(
    rf"(?<![a-z0-9.#/])(?P<nums>{_NUM}(?:\s*[-/]\s*{_NUM})*)\s*(?:{_UNIT_RE}(?![a-z]))?(?![a-z0-9])")
# Quantities that are not strengths: durations ("72 HR", "12 hr", "7 DAY"), volumes and counts before a name
# ("1 ML", "120 ACTUAT"), schedules ("every 6 hours", "x 30 days"), dispense counts ("#30").
_NOT_STRENGTH_RE = re.compile(
    r"(?<![a-z0-9.])\d+(?:\.\d+)?\s*(?:hrs?|hours?|days?|wks?|weeks?)(?![a-z/])|^\s*\d*\.?\d+\s*(?:ml|actuat)\b|"
    r"#\s*\d+|\bx\s*\d+\b")
_BRACKET_RE = re.compile(r"\[([^\]]+)\]\s*$")
_PAREN_RE = re.compile(r"\(([^()]*)\)")
_PACK_RE = re.compile(r"^\{\s*\d+\s*\((.+?)\)\s*(?:/|\})")


@dataclass(frozen=True)
class NameReading:
    """What a name says. ``strengths`` has one entry per ingredient: (mg, per) or None when not read."""

    ingredients: tuple["Ingredient", ...]
    strengths: tuple[tuple[float, str] | None, ...]
    route: str  # "" when the name does not say
    release: str  # "er", "ir", "dr" or "" (unknown)
    patch: bool
    brand: str | None
    form_stated: bool

    @property
    def extended_release(self) -> bool:
        return self.release == "er"


def _phrase_re(words) -> re.Pattern:
    alternation = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<![a-z0-9])({alternation})(?![a-z0-9])")


_ROUTE_RE = _phrase_re(VOCABULARY["routes"])
_FORM_RE = _phrase_re(VOCABULARY["forms"])
_RELEASE_RE = _phrase_re(VOCABULARY["release_markers"])


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value > 0 else None


# Oracle Health (Cerner) writes a unit after each number of a combination: "5 mg-325 mg". Read as "5-325 mg"
# when both units are the same (the length is kept so that positions still line up with the ingredients).
_UNIT_EACH_RE = re.compile(r"(?<![a-z0-9.])(\d*\.?\d+)\s*(mg|mcg)\s*([-/])\s*(\d*\.?\d+)\s*(mg|mcg)(?![a-z/])")


def _unit_once(m: re.Match) -> str:
    if m.group(2) != m.group(5):
        return m.group(0)
    joined = f"{m.group(1)}{m.group(3)}{m.group(4)} {m.group(2)}"
    return joined + " " * (len(m.group(0)) - len(joined))


def _strength_groups(text: str) -> list[tuple[int, list[float], tuple[float, str] | None, bool]]:
    """Each strength expression: (position, numbers, (mg factor, per) or None if no unit, unit recognised)."""
    cleaned = _NOT_STRENGTH_RE.sub(lambda m: " " * len(m.group(0)), text)
    cleaned = _UNIT_EACH_RE.sub(_unit_once, cleaned)
    groups = []
    for m in _STRENGTH_RE.finditer(cleaned):
        nums = [_number(n) for n in re.split(r"\s*[-/]\s*", m.group("nums"))]
        if any(n is None for n in nums):
            continue
        unit = (m.group("unit") or "").replace(" ", "")
        if not unit:
            groups.append((m.start(), nums, None, True))
            continue
        vol = m.group("vol") or m.group("vol2")
        if vol:
            volume = _number(vol)
            base = _UNITS["mg" if unit.startswith("mg") else "mcg"][0]
            groups.append((m.start(), nums, (base / volume, "mL") if volume else None, volume is not None))
        elif unit in _UNITS:
            groups.append((m.start(), nums, _UNITS[unit], True))
        else:  # mEq, units, percent: a strength, but not one in mg
            groups.append((m.start(), nums, None, False))
    return groups


def _form(text: str, brand_flags: dict | None, per_hour: bool):
    routes_stated = {VOCABULARY["routes"][m.group(1)] for m in _ROUTE_RE.finditer(text)}
    forms = [VOCABULARY["forms"][m.group(1)] for m in _FORM_RE.finditer(text)]
    # "Oral Lozenge" and "Buccal Film" name the route by their form; a form's own route wins over "oral" there.
    form_routes = {f["route"] for f in forms if f.get("route")}
    route_set = routes_stated or form_routes
    if routes_stated and form_routes and not form_routes <= routes_stated:
        if routes_stated == {"oral"} and form_routes == {"buccal"}:
            route_set = form_routes  # "Oral Lozenge"
        elif form_routes == {"oral"} and routes_stated & {"buccal", "sublingual"}:
            route_set = routes_stated  # "Buccal Tablet", "Sublingual Tablet": a tablet is oral unless said otherwise
        else:
            route_set = routes_stated | form_routes
    patch = any(f.get("patch") for f in forms)
    if per_hour and not patch and "injection" not in route_set:
        patch = True  # only transdermal systems carry a strength per hour
    if patch and not route_set - {"transdermal"}:
        route_set = {"transdermal"}
    if any(f.get("topical_patch") for f in forms):
        patch = False
    route = next(iter(route_set)) if len(route_set) == 1 else ""
    markers = {VOCABULARY["release_markers"][m.group(1)] for m in _RELEASE_RE.finditer(text)}
    markers |= {f["release"] for f in forms if f.get("release") and f["release"] != "unknown"}
    unknown_release = any(f.get("release") == "unknown" for f in forms)
    if len(markers) > 1:
        release = ""  # "ER" and "immediate release" in one name: cannot tell
    elif markers:
        release = markers.pop()
    elif patch:
        release = "ir"
    elif brand_flags and brand_flags.get("extended_release") in ("true", "false"):
        release = "er" if brand_flags["extended_release"] == "true" else "ir"
    elif forms and not unknown_release:
        release = "ir"  # a tablet or solution with no release marker is immediate release (RxNorm, Epic)
    else:
        release = ""
    if not route and brand_flags and brand_flags.get("route") not in (None, "", "mixed"):
        route = brand_flags["route"]
    if not patch and brand_flags and brand_flags.get("patch") == "true" and route in ("", "transdermal"):
        patch, route = True, "transdermal"
    return route, release, patch, bool(forms or routes_stated)


def names_a_patch(text: str) -> bool:
    """The text itself says patch or transdermal ("PT72", "patch", "TD"), rather than a patch being inferred
    from a strength per hour."""
    lowered = text.lower()
    return any(VOCABULARY["forms"][m.group(1)].get("patch") for m in _FORM_RE.finditer(lowered)) or any(
        VOCABULARY["routes"][m.group(1)] == "transdermal" for m in _ROUTE_RE.finditer(lowered))


def dosage_route(text: str) -> str:
    """The route a Dosage.route text or display names ("Oral", "Intravenous", "TD"); "" when none or several."""
    routes = {VOCABULARY["routes"][m.group(1)] for m in _ROUTE_RE.finditer(text.lower())}
    return routes.pop() if len(routes) == 1 else ""


class NameReader:
    """Reads names against the ingredient table, the brand table and the strengths of known products."""

    def __init__(self, names: dict[str, "Ingredient"], brands: dict[str, dict]):
        extra = {a: names[i] for a, i in VOCABULARY["ingredient_abbreviations"].items() if i in names}
        self._names = {**names, **extra}
        self._scan_re = _phrase_re(self._names)
        self._brands = brands  # lower-case brand -> row of brands.csv, with "ingredient_list"
        self._brand_re = _phrase_re(brands) if brands else None
        # (sorted ingredient names, per) -> set of strength tuples (in the same sorted order) of known products
        self.known: dict[tuple[tuple[str, ...], str], set[tuple[float, ...]]] = {}
        self.ranges: dict[tuple[str, str], tuple[float, float]] = {}  # (ingredient, per) -> lowest, highest
        self.highest: dict[tuple[tuple[str, ...], str], float] = {}  # single-ingredient key -> highest strength

    def learn(self, reading: NameReading) -> None:
        """Record a product table entry's strengths: what the sanity check compares later readings with."""
        if not reading.ingredients or any(s is None for s in reading.strengths):
            return
        pers = {s[1] for s in reading.strengths}  # type: ignore[index]
        if len(pers) != 1:
            return
        order = sorted(range(len(reading.ingredients)), key=lambda i: reading.ingredients[i].name)
        key = (tuple(reading.ingredients[i].name for i in order), pers.pop())
        self.known.setdefault(key, set()).add(tuple(round(reading.strengths[i][0], 6) for i in order))  # type: ignore[index]
        if len(order) == 1:
            self.highest[key] = max(self.highest.get(key, 0.0), reading.strengths[0][0])  # type: ignore[index]
        for ing, strength in zip(reading.ingredients, reading.strengths):
            low, high = self.ranges.get((ing.name, key[1]), (strength[0], strength[0]))  # type: ignore[index]
            self.ranges[(ing.name, key[1])] = (min(low, strength[0]), max(high, strength[0]))  # type: ignore[index]

    def plausible(self, ingredient: "Ingredient", strength_mg: float, per: str | None) -> bool:
        """Not above the strengths the product table knows for this ingredient (True when it knows none)."""
        span = self.ranges.get((ingredient.name, per or ""))
        return span is None or strength_mg <= span[1] + 1e-9

    def ingredients_in(self, text: str) -> list[tuple[int, "Ingredient"]]:
        found: list[tuple[int, "Ingredient"]] = []
        for m in self._scan_re.finditer(text):
            ing = self._names[m.group(1)]
            if all(ing.name != f.name for _, f in found):
                found.append((m.start(), ing))
        return found

    def brand_in(self, text: str, parenthesised: list[str]) -> dict | None:
        """A brand at the start of the text, or in parentheses/brackets (never a brand-like word mid-text)."""
        if self._brand_re is None:
            return None
        for candidate in parenthesised:
            if (row := self._brands.get(candidate.strip().lower())) is not None:
                return row
        m = self._brand_re.match(text.strip())
        return self._brands.get(m.group(1)) if m else None

    def read(self, name: str, trusted: bool = False) -> NameReading | None:
        """Read one name; None when it names no known ingredient or brand. ``trusted``: an RxNorm name from the
        product table itself, taken as written (it is what the sanity check compares other names with)."""
        if m := _PACK_RE.match(name):
            name = m.group(1)
        text = " ".join(name.split()).lower()
        brackets = [b.group(1) for b in _BRACKET_RE.finditer(text)]
        parens = [p.group(1) for p in _PAREN_RE.finditer(text)]
        text_wo_brand = _PAREN_RE.sub(" ", _BRACKET_RE.sub(" ", text))
        brand = self.brand_in(text, brackets + parens)
        mentions = self.ingredients_in(text_wo_brand)
        written_order = True
        brand_names = {i.name for i in brand["ingredient_list"]} if brand is not None else set()
        if brand is not None and (not mentions or brand_names > {i.name for _, i in mentions}):
            # "Percocet 5/325", "Tylenol with Codeine #3": the brand names the ingredients, in RxNorm's order
            mentions = [(0, ing) for ing in brand["ingredient_list"]]
            written_order = False
        if not mentions:
            return None
        if brand is not None and brand_names != {i.name for _, i in mentions}:
            brand = None  # a brand that names other ingredients than the text does decides nothing
        segmented = self._segments(text_wo_brand, trusted) if written_order else None
        if segmented is not None:
            mentions, strengths = segmented
        else:
            strengths = self._assign(mentions, _strength_groups(text_wo_brand), written_order, trusted)
        ingredients = tuple(i for _, i in mentions)
        per_hour = any(s is not None and s[1] == "h" for s in strengths)
        route, release, patch, stated = _form(text_wo_brand, brand, per_hour)
        if not trusted:
            strengths = self._per_form(mentions, strengths, route, patch)
        return NameReading(ingredients, strengths, route, release, patch,
                           brand["brand"] if brand else None, stated)

    # -- strengths -------------------------------------------------------------------------------------------
    def _per_form(self, mentions, strengths: tuple, route: str, patch: bool) -> tuple:
        """A bare mass ("25 mcg", "4 mg") means per hour on a patch, per spray on a nasal spray and a dose, not a
        strength, on an injection; it is kept in that sense only when a known product has exactly that strength."""
        per = "h" if patch else "actuation" if route == "nasal" else "unit" if route == "injection" else None
        if per is None or not strengths or any(s is None or s[1] != "unit" for s in strengths):
            return strengths
        got = self._checked(mentions, [s[0] for s in strengths], [per] * len(strengths), exact=True)
        return got
    def _segments(self, text: str, trusted: bool):
        """RxNorm's combination grammar, "A 325 MG / B 5 MG ...": each part names one ingredient and its own
        strength, so each known ingredient takes the strength of its part (ingredients the table does not know,
        such as caffeine, are left out)."""
        parts = re.split(r"\s+/\s+", text)
        if len(parts) < 2:
            return None
        mentions, strengths = [], []
        for part in parts:
            found, groups = self.ingredients_in(part), _strength_groups(part)
            if len(groups) != 1 or len(groups[0][1]) != 1 or len(found) > 1 or (found and groups[0][0] < found[0][0]):
                return None
            if not found:
                continue
            _, nums, unit, recognised = groups[0]
            value = (nums[0] * unit[0], unit[1]) if unit is not None and recognised else None
            if value is not None and not trusted and not self.plausible(found[0][1], *value):
                value = None
            if all(found[0][1].name != m.name for _, m in mentions):
                mentions.append(found[0])
                strengths.append(value)
        return (mentions, tuple(strengths)) if mentions else None

    def _assign(self, mentions, groups, written_order: bool, trusted: bool) -> tuple:
        n = len(mentions)
        unknown = (None,) * n
        if not groups:
            return unknown
        # RxNorm style: each ingredient followed by its own strength before the next ingredient.
        if n > 1 and written_order and len(groups) == n and all(len(g[1]) == 1 for g in groups):
            positions = [p for p, _ in mentions] + [10**9]
            if all(positions[i] < groups[i][0] < positions[i + 1] for i in range(n)):
                values = [(g[1][0], g[2]) for g in groups]
                if not all(u is not None for _, u in values):
                    return unknown
                if trusted:
                    return tuple((v * u[0], u[1]) for v, u in values)  # type: ignore[index]
                return self._checked(mentions, [v * u[0] for v, u in values], [u[1] for _, u in values])  # type: ignore[index]
        # Grouped: all ingredients, then one strength expression with one number per ingredient.
        if len(groups) != 1 or len(groups[0][1]) != n or (written_order and groups[0][0] < mentions[-1][0]):
            return unknown
        _, nums, unit, recognised = groups[0]
        if not recognised:
            return unknown
        if unit is None:  # "Percocet 5/325", "Duragesic 25": no unit written; accept only a strength that exists
            candidates = [(1.0, "unit"), (0.001, "h")]
            for factor, per in candidates:
                got = self._checked(mentions, [v * factor for v in nums], [per] * n, exact=True,
                                    any_order=not written_order)
                if all(s is not None for s in got):
                    return got
            return unknown
        if trusted and n == 1:
            return ((nums[0] * unit[0], unit[1]),)
        return self._checked(mentions, [v * unit[0] for v in nums], [unit[1]] * n, any_order=not written_order)

    def _checked(self, mentions, values: list[float], pers: list[str], exact: bool = False,
                 any_order: bool = False) -> tuple:
        """The strengths if a known product has them (combinations, or ``exact``), or if one ingredient's
        strength lies within the known range; otherwise unknown."""
        n = len(mentions)
        unknown = (None,) * n
        if len(set(pers)) != 1:
            return unknown
        per = pers[0]
        names = [i.name for _, i in mentions]
        order = sorted(range(n), key=lambda i: names[i])
        key = (tuple(names[i] for i in order), per)
        known = self.known.get(key)
        if known is None:
            # Nothing to compare with: one ingredient is taken as written; a combination is not (order unsure).
            return tuple((v, per) for v in values) if n == 1 and not exact and not any_order else unknown
        if n == 1 and not exact:
            # Above every known product's strength is a misread (325 of "5-325" given to hydrocodone); below is
            # not (compounded low-dose naltrexone 4.5 mg, paediatric liquids).
            return ((values[0], per),) if values[0] <= self.highest[key] + 1e-9 else unknown
        wanted = tuple(round(values[i], 6) for i in order)
        if wanted in known:
            return tuple((v, per) for v in values)
        if any_order:
            matches = [k for k in known if sorted(k) == sorted(wanted)]
            if len(matches) == 1 and len(set(wanted)) == n:
                # Strengths given without their ingredients' order (a brand alone): tie each by the one product.
                by_value = {}
                for idx, value in zip(order, matches[0]):
                    by_value[idx] = value
                return tuple((by_value[i], per) for i in range(n))
        return unknown
