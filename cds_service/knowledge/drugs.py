"""What a drug is: ingredients, classes, strengths and form, from RxNorm codes, names or a Medication resource.

Resolution order (docs/clinical-rules.md §1.2 and 5): a product RxCUI in the product table; for a ``Medication`` resource, its
coded ingredients with a strength that makes sense; the names in ``coding.display`` and ``text`` read in any
style EHRs use (``names.py``); an ingredient RxCUI. A name read with ingredients that contradict the coded
ingredients loses to the codes. Everything here is pure and cached; the tables are read once.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Iterable

from .lenient import items
from .names import NameReader, NameReading

DATA = Path(__file__).parent / "data"
RXNORM_SYSTEMS = frozenset({
    "http://www.nlm.nih.gov/research/umls/rxnorm",
    "urn:oid:2.16.840.1.113883.6.88",
})


@dataclass(frozen=True)
class DoseForm:
    route: str  # oral, transdermal, topical, sublingual, buccal, nasal, injection, rectal, ... or "" (not stated)
    extended_release: bool
    patch: bool
    release_known: bool = True  # False: the name did not say immediate or extended release


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
    def treats_opioid_use_disorder(self) -> bool:
        """Buprenorphine as products for opioid use disorder come: sublingual, or with naloxone. (Buccal and
        transdermal buprenorphine are analgesics.) CDC 2022 Rec 11: not to be withheld from a patient on a
        benzodiazepine."""
        return "buprenorphine" in self.ingredient_names and (
            self.form.route == "sublingual" or "naloxone" in self.ingredient_names)

    @property
    def is_er_la_opioid(self) -> bool:
        """ER/LA opioid: extended-release form, an opioid patch, or methadone (docs/clinical-rules.md §2, er-la-opioid-naive)."""
        return self.is_opioid and (self.form.extended_release or self.form.patch or "long_acting_opioid" in self.classes)

    @property
    def is_fentanyl_patch(self) -> bool:
        return self.form.patch and "fentanyl" in self.ingredient_names

    @property
    def is_tirf(self) -> bool:
        """Transmucosal immediate-release fentanyl (docs/clinical-rules.md §4.1.6: lozenge, buccal tablet or film,
        sublingual tablet, nasal or mucosal spray; the CDC OMTK dose forms). Buprenorphine shares these forms,
        so only fentanyl counts."""
        return ("fentanyl" in self.ingredient_names and not self.form.patch
                and self.form.route in ("buccal", "sublingual", "nasal"))

    @property
    def is_moud(self) -> bool:
        """A medication for opioid use disorder (docs/clinical-rules.md §4.2 oud-moud-offer): buprenorphine as
        it is given for OUD (sublingual, with naloxone, or an extended-release injection such as Sublocade),
        methadone, or extended-release injectable naltrexone. Transdermal and buccal buprenorphine and Buprenex
        injection are analgesics (the CDC value set counts them; the project does not)."""
        names = self.ingredient_names
        lowered = self.name.lower()
        if "buprenorphine" in names:
            return self.treats_opioid_use_disorder or (
                self.form.route == "injection" and ("extended" in lowered or "sublocade" in lowered
                                                    or "brixadi" in lowered))
        if "methadone" in names:
            return True
        return names == ("naltrexone",) and self.form.route == "injection"


def _product_classes(components: Iterable[Component]) -> frozenset[str]:
    comps = tuple(components)
    classes: set[str] = set()
    for c in comps:
        classes |= c.ingredient.classes
    # Naloxone or nalmefene alone is a rescue product; inside buprenorphine/naloxone it is not (docs/clinical-rules.md §1.2).
    if comps and all("naloxone" in c.ingredient.classes for c in comps):
        classes.add("naloxone_rescue")
    classes.discard("naloxone")
    # Naltrexone sequestered inside an opioid (morphine/naltrexone, oxycodone/naltrexone) is released only when
    # the product is tampered with: not an antagonist order (RULES-WAVE2 4.1.7, EMBEDA label).
    if "opioid" in classes:
        classes.discard("opioid_antagonist")
    return frozenset(classes)


def make_product(name: str, components: Iterable[Component], form: DoseForm, rxcui: str | None = None) -> Product:
    comps = tuple(components)
    return Product(name, comps, form, rxcui, _product_classes(comps))


def _num(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


class DrugKnowledge:
    """The ingredient, product and brand tables, and drug identification over them."""

    def __init__(self, ingredients: list[Ingredient], aliases: dict[str, Ingredient], products: dict[str, str],
                 brands: list[dict] | None = None):
        self.ingredients = {i.name: i for i in ingredients}
        self.by_rxcui = {i.rxcui: i for i in ingredients if i.rxcui}
        self._names = {**{i.name: i for i in ingredients}, **aliases}
        self.products = products  # RxCUI -> RxNorm name
        brand_rows = {}
        for row in brands or ():
            ings = [self.ingredients.get(n) for n in row["ingredients"].split(";")]
            if all(ings):
                brand_rows[row["brand"].lower()] = {**row, "ingredient_list": ings}
        self.reader = NameReader(self._names, brand_rows)
        # The product table is read once here, so that a code or an exact RxNorm name (any letter case) is a
        # dictionary lookup during a hook call; its strengths are what other names' strengths are checked against.
        readings = {code: self.reader.read(name, trusted=True) for code, name in products.items()}
        for reading in readings.values():
            if reading is not None:
                self.reader.learn(reading)
        self.by_product_rxcui: dict[str, Product] = {}
        self.by_product_name: dict[str, Product] = {}
        for code, name in products.items():
            product = self._product(name, readings[code], code)
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
        brands: list[dict] = []
        if with_products:
            for table in ("products_supplement.csv", "products.csv"):  # the verified codes first
                products.update((r["rxcui"], r["name"]) for r in _csv_rows(DATA / table) if r["rxcui"] not in products)
            brands = list(_csv_rows(DATA / "brands.csv"))
        return cls(ingredients, aliases, products, brands)

    # -- names ---------------------------------------------------------------------------------------------
    def ingredients_named_in(self, text: str) -> list[Ingredient]:
        return [ing for _, ing in self.reader.ingredients_in(" ".join(text.split()).lower())]

    def product_from_name(self, name: str, rxcui: str | None = None) -> Product | None:
        """Read a name in any style (RxNorm, Epic, tall-man with brand, prescriber text, brand alone)."""
        return self._product(name, self.reader.read(name), rxcui)

    @staticmethod
    def _product(name: str, reading: NameReading | None, rxcui: str | None) -> Product | None:
        if reading is None:
            return None
        comps = tuple(Component(ing, s[0] if s else None, s[1] if s else None)
                      for ing, s in zip(reading.ingredients, reading.strengths))
        form = DoseForm(reading.route, reading.extended_release, reading.patch, bool(reading.release))
        return make_product(name, comps, form, rxcui)

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
        coded = {self.by_rxcui[c].name: self.by_rxcui[c] for c in rx_codes if c in self.by_rxcui}
        readings = [p for p in (self.product_from_name(n, rx_codes[0] if rx_codes else None) for n in names) if p]
        if coded:
            # A name that names other ingredients than the RxNorm ingredient codes is misread or mislabelled.
            readings = [p for p in readings if set(p.ingredient_names) >= set(coded)]
        if readings:
            return max(readings, key=_completeness)
        if coded:
            label = names[0] if names else " / ".join(coded)
            return make_product(label, tuple(Component(i) for i in coded.values()), _UNSTATED_FORM, rx_codes[0])
        return None

    def identify(self, concept: Any, medication: Any = None) -> Product | None:
        """Identify a drug from a CodeableConcept and/or a Medication resource (plain dicts, leniently read).

        A Medication's product RxCUI wins; then its coded ingredients with sane strengths; then its names."""
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
        if isinstance(medication, dict) and (product is None or _completeness(product) < (1, 1)):
            from_medication = self._from_medication(medication)
            if from_medication is not None and (product is None or _completeness(from_medication) >= _completeness(product)):
                product = from_medication
        return product

    def _from_medication(self, medication: dict) -> Product | None:
        code = medication.get("code") if isinstance(medication.get("code"), dict) else {}
        codings, text = _concept_key(code)
        for system, value, _ in codings:
            if system in RXNORM_SYSTEMS and value in self.by_product_rxcui:
                return self.by_product_rxcui[value]
        by_name = self.identify_concept(codings, text) if (codings or text) else None
        form_words = " ".join(filter(None, [_form_text(medication), text]))
        from_ingredients = self._from_medication_ingredients(medication, form_words, by_name, text)
        if from_ingredients is not None and (by_name is None or _completeness(from_ingredients) >= _completeness(by_name)):
            return from_ingredients
        return by_name

    def _from_medication_ingredients(self, medication: dict, form_words: str, by_name: Product | None,
                                     text: str = "") -> Product | None:
        comps: list[Component] = []
        for item in items(medication.get("ingredient")):
            if not isinstance(item, dict):
                continue
            concept = item.get("itemCodeableConcept") or (item.get("item") or {}).get("concept")
            if not isinstance(concept, dict):
                continue
            codings, text = _concept_key(concept)
            ing = next((self.by_rxcui[c] for s, c, _ in codings if s in RXNORM_SYSTEMS and c in self.by_rxcui), None)
            if ing is None:
                found = self.identify_concept(codings, text)
                if found is None or len(found.components) != 1:
                    continue
                ing = found.components[0].ingredient
            strength = _ratio_strength(item.get("strength") or item.get("strengthRatio"))
            if strength[0] is not None and not self.reader.plausible(ing, *strength):
                strength = (None, None)
            comps.append(Component(ing, *strength))
        if not comps:
            return None
        names = tuple(c.ingredient.name for c in comps)
        form_reading = self.reader.read(" ".join((*names, form_words)))
        form = (DoseForm(form_reading.route, form_reading.extended_release, form_reading.patch,
                         bool(form_reading.release)) if form_reading else _UNSTATED_FORM)
        if any(c.per == "h" for c in comps) and not form.patch and form.route in ("", "transdermal"):
            form = DoseForm("transdermal", False, True)
        if by_name is not None and set(by_name.ingredient_names) == set(names):
            # Strengths the ingredient list lacks may come from the name, when it read them for the same drug.
            named = {c.ingredient.name: c for c in by_name.components}
            comps = [c if c.strength_mg is not None else named[c.ingredient.name] for c in comps]
            if not form.route:
                form = by_name.form
        # The name a prescriber reads: the Medication's own text when it has one ("fentaNYL (DURAGESIC) 25 mcg/hr
        # patch"), else the ingredients and the form words.
        label = text.strip() or " / ".join(names) + (f" {form_words}" if form_words else "")
        return make_product(label, comps, form)


_UNSTATED_FORM = DoseForm("", False, False, False)


def _completeness(product: Product) -> tuple[int, int]:
    """How much a reading knows: every strength, then a route."""
    return (int(all(c.strength_mg is not None for c in product.components)), int(bool(product.form.route)))


def _csv_rows(path: Path):
    with path.open(encoding="utf-8") as fh:
        yield from csv.DictReader(line for line in fh if not line.startswith("#"))


def _form_text(medication: dict) -> str:
    form = medication.get("form") or medication.get("doseForm")
    if not isinstance(form, dict):
        return ""
    words = [form.get("text") if isinstance(form.get("text"), str) else ""]
    for c in items(form.get("coding")):
        if isinstance(c, dict):
            words += [str(c.get("code") or ""), str(c.get("display") or "")]
    return " ".join(w for w in words if w)


def _concept_key(concept: dict) -> tuple[tuple[tuple[str, str, str], ...], str]:
    codings = []
    for c in items(concept.get("coding")):
        if isinstance(c, dict):
            codings.append((str(c.get("system") or ""), str(c.get("code") or ""), str(c.get("display") or "")))
    text = concept.get("text")
    return tuple(codings), text if isinstance(text, str) else ""


def _ratio_strength(strength: Any) -> tuple[float | None, str | None]:
    """A Medication.ingredient.strength Ratio ("5 mg per 1 tablet") as mg per unit/mL/h/actuation.

    Epic sends the product strength as both numerator and denominator (10 "MG" over 10 "MG", 15 "MG/5ML" over
    15 "MG/5ML"): that is not a ratio, so the unit string is read instead (10 mg per unit; 15 MG/5ML = 3 mg/mL)."""
    if not isinstance(strength, dict):
        return None, None
    num, den = strength.get("numerator") or {}, strength.get("denominator") or {}
    if not isinstance(num, dict) or not isinstance(den, dict):
        return None, None
    value = _positive(num.get("value"))
    if value is None:
        return None, None
    num_unit = str(num.get("unit") or num.get("code") or "").strip().lower().replace(" ", "")
    den_unit = str(den.get("unit") or den.get("code") or "").strip().lower().replace(" ", "")
    if den and num_unit == den_unit and num.get("value") == den.get("value"):
        # Epic: 10 "MG" over 10 "MG" is 10 mg per tablet; 15 "MG/5ML" over itself is 3 mg/mL.
        per_unit = _per_unit_strength(value, num_unit)
        return per_unit if per_unit else (None, None)
    unit = str(num.get("code") or num.get("unit") or "").strip().lower()
    factor = {"mg": 1.0, "ug": 0.001, "mcg": 0.001, "g": 1000.0}.get(unit)
    if factor is None:
        return None, None
    den_value = _positive(den.get("value", 1)) if den else 1.0
    if den_value is None:
        return None, None
    den_code = str(den.get("code") or den.get("unit") or "1").strip().lower() if den else "1"
    if den_code in ("mg", "ug", "mcg", "g", "kg"):
        return None, None  # mass per mass (a cream, or a mislabelled ratio): no strength per dose unit
    per = {"ml": "mL", "h": "h", "hr": "h", "{actuat}": "actuation", "actuation": "actuation"}.get(den_code, "unit")
    return value * factor / den_value, per


def _per_unit_strength(value: float, unit: str) -> tuple[float, str] | None:
    from .names import _UNITS  # the strength units a name may carry
    if m := re.fullmatch(r"(mg|mcg)/(\d*\.?\d+)ml", unit):
        volume = float(m.group(2))
        return (value * (1.0 if m.group(1) == "mg" else 0.001) / volume, "mL") if volume > 0 else None
    if unit in _UNITS:
        factor, per = _UNITS[unit]
        return value * factor, per
    return None


def _positive(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if 0 < number < float("inf") else None
