"""What a drug is: ingredients, classes, strengths and form, from RxNorm codes, names or a Medication resource.

Resolution order (RULES.md 1.2): a product RxCUI in the product table (its RxNorm name is then parsed), the
RxNorm name in ``coding.display`` or ``text``, an ingredient RxCUI, the ingredient names anywhere in the text,
and last a ``Medication`` resource's ``ingredient[]``. A name is tried before an ingredient code because only
the name carries strength and form. Everything here is pure and cached; the tables are read once.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Iterable

from .rxnorm import DoseForm, classify_dose_form, parse_name
from .lenient import items

DATA = Path(__file__).parent / "data"
RXNORM_SYSTEMS = frozenset({
    "http://www.nlm.nih.gov/research/umls/rxnorm",
    "urn:oid:2.16.840.1.113883.6.88",
})


@dataclass(frozen=True)
class Ingredient:
    name: str
    rxcui: str | None
    classes: frozenset[str]
    mme_factor: float | None
    tolerance_threshold: float | None
    tolerance_unit: str | None  # "mg/d" (oral) or "mcg/h" (transdermal)


@dataclass(frozen=True)
class Component:
    """One ingredient of a product with its strength: mg per unit, per mL, per actuation, or per hour."""

    ingredient: Ingredient
    strength_mg: float | None = None
    per: str | None = None  # "unit", "mL", "actuation", "h"; None when the strength is unknown

    @property
    def strength_text(self) -> str:
        if self.strength_mg is None:
            return ""
        if self.per == "h":
            return f"{_num(self.strength_mg * 1000)} mcg/h"
        suffix = {"unit": "", "mL": "/mL", "actuation": "/actuation"}.get(self.per or "", "")
        return f"{_num(self.strength_mg)} mg{suffix}"


@dataclass(frozen=True)
class Product:
    name: str
    components: tuple[Component, ...]
    form: DoseForm = DoseForm("", False, False)
    rxcui: str | None = None
    classes: frozenset[str] = field(default=frozenset())

    @cached_property  # products are shared and immutable: computed once per process
    def ingredient_names(self) -> tuple[str, ...]:
        return tuple(c.ingredient.name for c in self.components)

    @cached_property
    def therapy_key(self) -> tuple:
        """Same ingredients, strengths and form: records of one product (or of its brand) are one therapy."""
        return (tuple(sorted((c.ingredient.name, c.strength_mg, c.per) for c in self.components)),
                self.form.route, self.form.extended_release, self.form.patch)

    def has_class(self, *classes: str) -> bool:
        return not self.classes.isdisjoint(classes)

    def components_of(self, cls: str) -> tuple[Component, ...]:
        return tuple(c for c in self.components if cls in c.ingredient.classes)

    @property
    def is_opioid(self) -> bool:
        return "opioid" in self.classes

    @property
    def is_er_la_opioid(self) -> bool:
        """ER/LA opioid: extended-release form, an opioid patch, or methadone (RULES.md 2, er-la-opioid-naive)."""
        return self.is_opioid and (self.form.extended_release or self.form.patch or "long_acting_opioid" in self.classes)

    @property
    def is_fentanyl_patch(self) -> bool:
        return self.form.patch and "fentanyl" in self.ingredient_names


def _product_classes(components: Iterable[Component]) -> frozenset[str]:
    comps = tuple(components)
    classes: set[str] = set()
    for c in comps:
        classes |= c.ingredient.classes
    # Naloxone or nalmefene alone is a rescue product; inside buprenorphine/naloxone it is not (RULES.md 1.2).
    if comps and all("naloxone" in c.ingredient.classes for c in comps):
        classes.add("naloxone_rescue")
    classes.discard("naloxone")
    return frozenset(classes)


def make_product(name: str, components: Iterable[Component], form: DoseForm, rxcui: str | None = None) -> Product:
    comps = tuple(components)
    return Product(name, comps, form, rxcui, _product_classes(comps))


_STRENGTH_UNITS = {
    "MG": (1.0, "unit"), "MCG": (0.001, "unit"),
    "MG/ML": (1.0, "mL"), "MCG/ML": (0.001, "mL"),
    "MG/HR": (1.0, "h"), "MCG/HR": (0.001, "h"),
    "MG/ACTUAT": (1.0, "actuation"), "MCG/ACTUAT": (0.001, "actuation"),
}


_PACK_RE = re.compile(r"^\{\s*\d+\s*\((.+?)\)\s*(?:/|\})")


def _num(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


class DrugKnowledge:
    """The ingredient and product tables, and drug identification over them."""

    def __init__(self, ingredients: list[Ingredient], aliases: dict[str, Ingredient], products: dict[str, str]):
        self.ingredients = {i.name: i for i in ingredients}
        self.by_rxcui = {i.rxcui: i for i in ingredients if i.rxcui}
        self._names = {**{i.name: i for i in ingredients}, **aliases}
        self.products = products  # RxCUI -> RxNorm name
        alternation = "|".join(re.escape(n) for n in sorted(self._names, key=len, reverse=True))
        self._scan_re = re.compile(rf"(?<![a-z])({alternation})(?![a-z])")
        # The product table is parsed once here (about 50 ms), so that a code or an exact RxNorm name (any
        # letter case) is a dictionary lookup during a hook call.
        self.by_product_rxcui: dict[str, Product] = {}
        self.by_product_name: dict[str, Product] = {}
        for code, name in products.items():
            product = self.product_from_name(name, code)
            if product is not None:
                self.by_product_rxcui[code] = product
                self.by_product_name.setdefault(name.lower(), product)
        self.identify_concept = lru_cache(maxsize=4096)(self._identify_concept)

    @classmethod
    @lru_cache(maxsize=2)
    def load(cls, with_products: bool = True) -> "DrugKnowledge":
        """The tables, read once per process (they are immutable; every app and worker thread shares them)."""
        return cls._read(with_products)

    @classmethod
    def _read(cls, with_products: bool) -> "DrugKnowledge":
        ingredients, aliases = [], {}
        with (DATA / "ingredients.csv").open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                ing = Ingredient(
                    name=row["ingredient"].strip().lower(),
                    rxcui=row["rxcui"].strip() or None,
                    classes=frozenset(c for c in row["classes"].split(";") if c),
                    mme_factor=float(row["mme_factor"]) if row["mme_factor"] else None,
                    tolerance_threshold=float(row["tolerance_threshold"]) if row["tolerance_threshold"] else None,
                    tolerance_unit=row["tolerance_unit"] or None,
                )
                ingredients.append(ing)
                for alias in filter(None, (a.strip().lower() for a in row["aliases"].split(";"))):
                    aliases[alias] = ing
        products: dict[str, str] = {}
        for table in ("products.csv", "products_supplement.csv") if with_products else ():
            with (DATA / table).open(encoding="utf-8") as fh:
                for row in csv.DictReader(line for line in fh if not line.startswith("#")):
                    products.setdefault(row["rxcui"], row["name"])
        return cls(ingredients, aliases, products)

    # -- names ---------------------------------------------------------------------------------------------
    def ingredient_for(self, text: str) -> Ingredient | None:
        """The ingredient a name component starts with ("oxycodone hydrochloride" -> oxycodone)."""
        m = self._scan_re.match(text.lower())
        return self._names[m.group(1)] if m else None

    def ingredients_named_in(self, text: str) -> list[Ingredient]:
        seen: dict[str, Ingredient] = {}
        for m in self._scan_re.finditer(text.lower()):
            ing = self._names[m.group(1)]
            seen.setdefault(ing.name, ing)
        return list(seen.values())

    def product_from_name(self, name: str, rxcui: str | None = None) -> Product | None:
        """Parse an RxNorm (or RxNorm-like) name; fall back to the ingredient names found anywhere in it.

        A pack (``{7 (A 25 MG Oral Tablet) / ...} Pack``) is read as its first product; a qualifier before the
        name (``Abuse-Deterrent``, ``Matrix Delivery``, ``Once-Daily``) is skipped.
        """
        if m := _PACK_RE.match(name):
            name_to_parse = m.group(1)
        else:
            name_to_parse = name
        parsed = parse_name(name_to_parse)
        words = name_to_parse.split()
        for skip in range(1, 3):
            if parsed is not None and any(self.ingredient_for(c.text) for c in parsed.components):
                break
            parsed = parse_name(" ".join(words[skip:]))
        if parsed is not None:
            comps = []
            for c in parsed.components:
                ing = self.ingredient_for(c.text)
                if ing is None:
                    continue
                factor, per = _STRENGTH_UNITS.get(c.unit, (None, None))
                comps.append(Component(ing, c.strength * factor if factor else None, per))
            if comps:
                form = classify_dose_form(parsed.dose_form, parsed.duration_hours)
                return make_product(name, comps, form, rxcui)
        found = self.ingredients_named_in(name)
        if not found:
            return None
        return make_product(name, (Component(i) for i in found), classify_dose_form(name), rxcui)

    # -- CodeableConcepts and Medication resources ---------------------------------------------------------
    def _identify_concept(self, codings: tuple[tuple[str, str, str], ...], text: str) -> Product | None:
        rx_codes = [code for system, code, _ in codings if system in RXNORM_SYSTEMS and code]
        for code in rx_codes:
            if code in self.by_product_rxcui:
                return self.by_product_rxcui[code]
        names = [d for _, _, d in codings if d] + ([text] if text else [])
        for name in names:
            if (known := self.by_product_name.get(name.lower())) is not None:
                return known
        guesses: list[Product] = []
        for name in names:
            product = self.product_from_name(name, rx_codes[0] if rx_codes else None)
            if product is not None and any(c.strength_mg is not None for c in product.components):
                return product  # a full RxNorm-style name: ingredient, strength and form
            if product is not None:
                guesses.append(product)
        for code in rx_codes:
            if code in self.by_rxcui:
                ing = self.by_rxcui[code]
                label = names[0] if names else ing.name
                return make_product(label, (Component(ing),), classify_dose_form(label), code)
        return guesses[0] if guesses else None

    def identify(self, concept: Any, medication: Any = None) -> Product | None:
        """Identify a drug from a CodeableConcept and/or a Medication resource (plain dicts, leniently read)."""
        product = None
        if isinstance(concept, dict):
            # The usual record: an RxNorm product code. The same answer identify_concept gives (its first rule),
            # without building the cache key.
            for c in items(concept.get("coding")):
                if isinstance(c, dict) and str(c.get("system") or "") in RXNORM_SYSTEMS:
                    product = self.by_product_rxcui.get(str(c.get("code") or ""))
                    if product is not None:
                        return product
            product = self.identify_concept(*_concept_key(concept))
        if product is None and isinstance(medication, dict):
            code = medication.get("code")
            if isinstance(code, dict):
                product = self.identify_concept(*_concept_key(code))
            if product is None or not any(c.strength_mg for c in product.components):
                from_ingredients = self._from_medication_ingredients(medication)
                product = from_ingredients or product
        return product

    def _from_medication_ingredients(self, medication: dict) -> Product | None:
        comps: list[Component] = []
        names: list[str] = []
        for item in items(medication.get("ingredient")):
            if not isinstance(item, dict):
                continue
            concept = item.get("itemCodeableConcept") or (item.get("item") or {}).get("concept")
            if not isinstance(concept, dict):
                continue
            found = self.identify_concept(*_concept_key(concept))
            if found is None:
                continue
            ing = found.components[0].ingredient
            names.append(ing.name)
            strength = item.get("strength") or item.get("strengthRatio")
            comps.append(Component(ing, *_ratio_strength(strength)))
        if not comps:
            return None
        form_text = ""
        form = medication.get("form") or medication.get("doseForm")
        if isinstance(form, dict):
            form_text = form.get("text") or next(
                (c.get("display", "") for c in items(form.get("coding")) if isinstance(c, dict)), "")
        return make_product(" / ".join(names) + (f" {form_text}" if form_text else ""), comps,
                            classify_dose_form(str(form_text)))


def _concept_key(concept: dict) -> tuple[tuple[tuple[str, str, str], ...], str]:
    codings = []
    for c in items(concept.get("coding")):
        if isinstance(c, dict):
            codings.append((str(c.get("system") or ""), str(c.get("code") or ""), str(c.get("display") or "")))
    text = concept.get("text")
    return tuple(codings), text if isinstance(text, str) else ""


def _ratio_strength(strength: Any) -> tuple[float | None, str | None]:
    """A Medication.ingredient.strength Ratio ("5 mg per 1 tablet") as mg per unit/mL/h."""
    if not isinstance(strength, dict):
        return None, None
    num, den = strength.get("numerator") or {}, strength.get("denominator") or {}
    try:
        value = float(num["value"])
    except (KeyError, TypeError, ValueError):
        return None, None
    unit = str(num.get("code") or num.get("unit") or "").lower()
    factor = {"mg": 1.0, "ug": 0.001, "mcg": 0.001, "g": 1000.0}.get(unit)
    if factor is None:
        return None, None
    den_unit = str(den.get("code") or den.get("unit") or "1").lower() if isinstance(den, dict) else "1"
    try:
        den_value = float(den.get("value", 1)) if isinstance(den, dict) else 1.0
    except (TypeError, ValueError):
        return None, None
    if den_value <= 0:
        return None, None
    per = {"ml": "mL", "h": "h", "hr": "h"}.get(den_unit, "unit")
    return value * factor / den_value, per
