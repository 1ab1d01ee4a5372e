"""Write cds_service/knowledge/data/value_sets.json from three published sources, at build time only.

Sources (nothing is downloaded here, and the service never reads these inputs at run time):

1. The CDC Opioid Prescribing Support IG value-set expansions (CC0, CDC) in the public repository
   cqframework/opioid-cds-r4, ``input/vocabulary/valueset/<name>.json`` (``expansion.contains``): all urine drug
   screening tests (LOINC), opioid misuse disorders (SNOMED CT + ICD-10-CM), sleep-disordered breathing (SNOMED CT +
   ICD-10-CM, less the narcolepsy, circadian-rhythm and shift-work codes, which are not breathing disorders) and
   buprenorphine and methadone medications (RxNorm, with displays so that a consumer can tell transdermal and
   injectable buprenorphine from MOUD products).
2. eCQM value sets (VSAC expansions) as the PyPI package ``canvas`` (MIT, Canvas Medical) ships them, as Python
   classes in ``canvas_sdk/value_set/v<year>/*.py`` (``VALUE_SET_NAME``, ``OID``, ``DEFINITION_VERSION``,
   ``EXPANSION_VERSION`` and one set of codes per code system, each code with its display as a comment). The files
   are parsed, never imported; of the year folders the newest holding the OID is used. ICD-10-CM codes, which canvas
   writes without the dot, are written here with it (``Z331`` -> ``Z33.1``), as the CDC sets and FHIR do.
3. The CPIC recommendations (CPIC data CC0) as the PyPI package ``pypgx`` (MIT) ships them:
   ``pypgx/api/data/recommendation-table.csv`` (drug, gene, phenotype, recommendation), with each drug's CPIC level
   from ``cpic-table.csv`` and each phenotype's EHR priority from ``phenotype-table.csv``. Only codeine, tramadol and
   hydrocodone x CYP2D6 are kept. pypgx's tables have no recommendation strength ("classification") column, so
   ``classification`` is written as null rather than made up; pypgx's missing-value marker "None" is written as null.

Every value set records its provenance: the repository and commit, or the PyPI package, its version, the file
inside the archive and the archive's sha256.

Usage:
    pip download canvas==0.261.0 --no-deps -d /tmp/vsets
    pip download pypgx==0.27.0 --no-deps -d /tmp/vsets
    python scripts/build_value_sets.py --cdc-repo /path/to/opioid-cds-r4 \\
        --canvas /tmp/vsets/canvas-0.261.0-py3-none-any.whl --pypgx /tmp/vsets/pypgx-0.27.0-py3-none-any.whl
    # --cdc-repo takes a clone or a bare mirror; --canvas/--pypgx take a wheel or an sdist (.tar.gz);
    # --out PATH writes somewhere else than cds_service/knowledge/data/value_sets.json.
"""
from __future__ import annotations

import argparse
import ast
import csv
import hashlib
import io
import json
import re
import subprocess
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "cds_service" / "knowledge" / "data" / "value_sets.json"
CDC_REPO = "https://github.com/cqframework/opioid-cds-r4"

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
# canvas's class attribute per code system -> FHIR system URI (canvas's own URL for ICD-10 is just "ICD-10").
CANVAS_SYSTEMS = {"LOINC": LOINC, "SNOMEDCT": SNOMED, "ICD10CM": ICD10CM, "RXNORM": RXNORM,
                  "CPT": "http://www.ama-assn.org/go/cpt", "HCPCSLEVELII": "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
                  "CVX": "http://hl7.org/fhir/sid/cvx", "ICD10PCS": "http://www.cms.gov/Medicare/Coding/ICD10"}

# key -> (CDC value-set file name, systems kept)
CDC_SETS = {
    "urine_drug_screening": ("all-urine-drug-screening-tests", (LOINC,)),
    "opioid_misuse_disorders": ("opioid-misuse-disorders", (SNOMED, ICD10CM)),
    "sleep_disordered_breathing": ("conditions-documenting-sleep-disordered-breathing", (SNOMED, ICD10CM)),
    "moud_medications_cdc": ("buprenorphine-and-methadone-medications", (RXNORM,)),
}
# Sleep-disordered breathing: not breathing disorders. ICD-10-CM G47.26 and G47.4x by code; SNOMED CT by display.
SLEEP_DROP_ICD = re.compile(r"^G47\.(26|4\d*)$")
SLEEP_DROP_SNOMED = re.compile(r"narcolep|cataplex|circadian|shift[- ]work", re.I)
CDC_NOTES = {
    "moud_medications_cdc": ("As published: it also holds transdermal buprenorphine (Butrans), buprenorphine injection "
                             "(Buprenex, Simbadol) and buccal film (Belbuca), which are analgesic or veterinary rather "
                             "than MOUD products; the displays are kept so that the consumer can exclude them."),
}

# key -> (OID, expected name); body weight is chosen by OID too, after checking it holds 29463-7 and 3141-9.
CANVAS_SETS = {
    "creatinine_lab": ("2.16.840.1.113883.3.666.5.2363", "Creatinine Lab Test"),
    "egfr": ("2.16.840.1.113883.3.6929.3.1000", "Estimated Glomerular Filtration Rate"),
    "ckd_stage_5": ("2.16.840.1.113883.3.526.3.1002", "Chronic Kidney Disease, Stage 5"),
    "end_stage_renal_disease": ("2.16.840.1.113883.3.526.3.353", "End Stage Renal Disease"),
    "pregnancy": ("2.16.840.1.113883.3.526.3.378", "Pregnancy"),
    "pregnant_state": ("2.16.840.1.113883.3.3157.4055", "Pregnant State"),
    "gestational_age_observation": ("2.16.840.1.113762.1.4.1045.26", "Estimated Gestational Age at Delivery"),
    "gestation_20_to_42_weeks": ("2.16.840.1.113762.1.4.1110.67", "20 to 42 Plus Weeks Gestation"),
    "body_weight": ("2.16.840.1.113762.1.4.1045.159", "Body Weight"),
}
BODY_WEIGHT_LOINC = ("29463-7", "3141-9")

CPIC_DRUGS = ("codeine", "tramadol", "hydrocodone")
CPIC_GENE = "CYP2D6"
PHENOTYPE_ORDER = ("Ultrarapid Metabolizer", "Normal Metabolizer", "Intermediate Metabolizer", "Poor Metabolizer",
                   "Indeterminate")


# --- CDC IG ---------------------------------------------------------------------------------------------------------

def _git(repo: Path, *args: str) -> str:
    git_dir = repo if (repo / "HEAD").exists() and not (repo / ".git").exists() else repo / ".git"
    return subprocess.run(["git", "--git-dir", str(git_dir), *args], capture_output=True, text=True,
                          check=True).stdout


def cdc_value_sets(repo: Path) -> dict:
    commit = _git(repo, "rev-parse", "HEAD").strip()
    out = {}
    for key, (name, systems) in CDC_SETS.items():
        path = f"input/vocabulary/valueset/{name}.json"
        data = json.loads(_git(repo, "show", f"HEAD:{path}"))
        codes: dict[str, dict[str, str]] = {s: {} for s in systems}
        dropped = []
        contains = data.get("expansion", {}).get("contains", [])
        for c in contains:
            system, code, display = c.get("system"), c.get("code"), c.get("display", "")
            if system not in codes or not code:
                continue
            if key == "sleep_disordered_breathing" and (
                    (system == ICD10CM and SLEEP_DROP_ICD.match(code))
                    or (system == SNOMED and SLEEP_DROP_SNOMED.search(display))):
                dropped.append(f"{'ICD-10-CM' if system == ICD10CM else 'SNOMED CT'} {code} {display}")
                continue
            codes[system][code] = display
        other = sorted({c.get("system") for c in contains} - set(systems))
        notes = []
        if dropped:
            notes.append("Dropped as not breathing disorders (narcolepsy, circadian-rhythm, shift-work): "
                         + "; ".join(dropped) + ".")
        elif key == "sleep_disordered_breathing":
            notes.append("No codes matched the narcolepsy/circadian/shift-work drop rule.")
        if other:
            notes.append(f"Systems not kept: {', '.join(other)}.")
        if key in CDC_NOTES:
            notes.append(CDC_NOTES[key])
        out[key] = {
            "title": data.get("title") or data.get("name"),
            "url": data.get("url"),
            "version": data.get("version"),
            "provenance": {"source": "CDC Opioid Prescribing Support IG value sets (CC0)", "repo": CDC_REPO,
                           "commit": commit, "path": path, "date": data.get("date"),
                           "expansion_timestamp": data.get("expansion", {}).get("timestamp")},
            "codes": {s: _sorted(v) for s, v in codes.items()},
            "notes": " ".join(notes),
        }
    return out


# --- PyPI archives --------------------------------------------------------------------------------------------------

class Archive:
    """A wheel (zip) or sdist (tar.gz) read in place; members are named without an sdist's top folder."""

    def __init__(self, path: Path):
        self.path = path
        self.sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        self.files: dict[str, bytes] = {}
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                for n in z.namelist():
                    if not n.endswith("/"):
                        self.files[n] = z.read(n)
        else:
            with tarfile.open(path) as t:
                for m in t.getmembers():
                    if m.isfile():
                        name = m.name.split("/", 1)[1] if "/" in m.name else m.name
                        self.files[name] = t.extractfile(m).read()
        meta = next((v for k, v in self.files.items()
                     if k.endswith(".dist-info/METADATA") or k == "PKG-INFO"), b"")
        headers = Parser().parsestr(meta.decode("utf-8", "replace"), headersonly=True)
        self.name, self.version = headers.get("Name"), headers.get("Version")
        self.license = headers.get("License-Expression") or headers.get("License")

    def find(self, suffix: str) -> str:
        hits = [n for n in self.files if n == suffix or n.endswith("/" + suffix)]
        if len(hits) != 1:
            raise SystemExit(f"{self.path.name}: expected one {suffix}, found {hits}")
        return hits[0]

    def provenance(self, member: str, **extra) -> dict:
        return {"source": "PyPI", "package": self.name, "version": self.version, "license": self.license,
                "archive": self.path.name, "archive_sha256": self.sha256, "path": member, **extra}


# --- canvas (eCQM) --------------------------------------------------------------------------------------------------

def _canvas_classes(archive: Archive) -> dict[str, list[tuple[int, str, dict]]]:
    """OID -> [(year, module path, parsed class)], from canvas_sdk/value_set/v<year>/*.py."""
    by_oid: dict[str, list] = {}
    for member, raw in archive.files.items():
        m = re.search(r"(?:^|/)canvas_sdk/value_set/v(\d{4})/[^/]+\.py$", member)
        if not m:
            continue
        source = raw.decode("utf-8")
        lines = source.splitlines()
        for node in ast.parse(source).body:
            if not isinstance(node, ast.ClassDef):
                continue
            attrs, codes = {}, {}
            for stmt in node.body:
                if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                        and isinstance(stmt.targets[0], ast.Name)):
                    continue
                target, value = stmt.targets[0].id, stmt.value
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    attrs[target] = value.value
                elif isinstance(value, ast.Set):
                    codes[target] = {}
                    for elt in value.elts:
                        if not (isinstance(elt, ast.Constant) and isinstance(elt.value, str)):
                            raise SystemExit(f"{member}: {node.name}.{target} holds a non-string")
                        comment = re.search(r"#\s?(.*)$", lines[elt.lineno - 1][elt.end_col_offset:])
                        codes[target][elt.value] = comment.group(1).strip() if comment else ""
            if "OID" in attrs:
                by_oid.setdefault(attrs["OID"], []).append(
                    (int(m.group(1)), member, {"class": node.name, **attrs, "codes": codes}))
    return by_oid


def _icd_dotted(code: str) -> str:
    return code if "." in code or len(code) <= 3 else f"{code[:3]}.{code[3:]}"


def canvas_value_sets(archive: Archive) -> tuple[dict, list[str]]:
    by_oid = _canvas_classes(archive)
    out, missing = {}, []
    for key, (oid, expected_name) in CANVAS_SETS.items():
        found = sorted(by_oid.get(oid, []), key=lambda t: t[0])
        if not found:
            missing.append(f"{key}: {expected_name} ({oid}) is not in {archive.name} {archive.version}")
            continue
        year, member, vs = found[-1]
        if vs.get("VALUE_SET_NAME") != expected_name:
            raise SystemExit(f"{oid}: named {vs.get('VALUE_SET_NAME')!r}, expected {expected_name!r}")
        codes = {}
        for attr, entries in vs["codes"].items():
            if attr not in CANVAS_SYSTEMS:
                raise SystemExit(f"{oid}: code system {attr} has no FHIR URI in CANVAS_SYSTEMS")
            system = CANVAS_SYSTEMS[attr]
            if attr == "ICD10CM":
                entries = {_icd_dotted(c): d for c, d in entries.items()}
            codes[system] = _sorted(entries)
        notes = []
        if "ICD10CM" in vs["codes"]:
            notes.append("ICD-10-CM codes written with the dot (canvas writes them without).")
        older = [f"v{y}" for y, _, other in found[:-1] if other["codes"] != vs["codes"]]
        if older:
            notes.append(f"canvas's {', '.join(older)} copy of this OID has other codes; v{year} is used.")
        if key == "body_weight":
            if not all(c in codes.get(LOINC, {}) for c in BODY_WEIGHT_LOINC):
                raise SystemExit(f"body_weight {oid} lacks {BODY_WEIGHT_LOINC}")
            others = sorted({f"{o['VALUE_SET_NAME']} ({o['OID']})" for entries in by_oid.values()
                             for y, _, o in entries if y == year and o["OID"] != oid
                             and all(c in o["codes"].get("LOINC", {}) for c in BODY_WEIGHT_LOINC)})
            if others:
                notes.append(f"Other canvas v{year} value sets holding LOINC {' and '.join(BODY_WEIGHT_LOINC)}: "
                             f"{'; '.join(others)} (not used).")
        out[key] = {
            "title": vs["VALUE_SET_NAME"],
            "oid": oid,
            "version": {"definition": vs.get("DEFINITION_VERSION"), "expansion": vs.get("EXPANSION_VERSION")},
            "provenance": archive.provenance(member, **{"class": vs["class"]}),
            "codes": codes,
            "notes": " ".join(notes),
        }
    return out, missing


# --- pypgx (CPIC) ---------------------------------------------------------------------------------------------------

def _na(value: str | None) -> str | None:
    return None if value in (None, "", "None") else value


def _csv(archive: Archive, member: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(archive.files[member].decode("utf-8"))))


def cpic_rows(archive: Archive) -> dict:
    rec_path = archive.find("pypgx/api/data/recommendation-table.csv")
    level_path = archive.find("pypgx/api/data/cpic-table.csv")
    pheno_path = archive.find("pypgx/api/data/phenotype-table.csv")
    recs = _csv(archive, rec_path)
    levels = {(r["Drug"], r["Gene"]): r for r in _csv(archive, level_path)}
    priority = {(r["Gene"], r["Phenotype"]): r for r in _csv(archive, pheno_path)}
    rows = []
    for r in recs:
        if r["Drug"] not in CPIC_DRUGS or r["Gene1"] != CPIC_GENE:
            continue
        if _na(r.get("Gene2")) or _na(r.get("Phenotype2")):
            raise SystemExit(f"unexpected two-gene row {r}")
        level = levels.get((r["Drug"], CPIC_GENE), {})
        pr = priority.get((CPIC_GENE, r["Phenotype1"]), {})
        rows.append({"drug": r["Drug"], "gene": CPIC_GENE, "phenotype": r["Phenotype1"],
                     "recommendation": _na(r["Recommendation"]), "classification": None,
                     "cpic_level": _na(level.get("CPICLevel")), "cpic_level_status": _na(level.get("CPICLevelStatus")),
                     "pharmgkb_level": _na(level.get("PharmGKBLevel")), "fda_label": _na(level.get("FDALabel")),
                     "guideline": _na(level.get("Guideline")), "pmid": _na(level.get("PMID")),
                     "ehr_priority": _na(pr.get("Priority"))})
    order = {p: i for i, p in enumerate(PHENOTYPE_ORDER)}
    rows.sort(key=lambda x: (CPIC_DRUGS.index(x["drug"]), order.get(x["phenotype"], len(order)), x["phenotype"]))
    return {
        "provenance": {**archive.provenance(rec_path), "also": [level_path, pheno_path],
                       "data_license": "CPIC data CC0 (cpicpgx.org)"},
        "notes": ("recommendation: verbatim from recommendation-table.csv (its 'None' written as null). "
                  "classification: null because pypgx carries no CPIC recommendation-strength column; take it from "
                  "the guideline if needed. cpic_level, cpic_level_status, pharmgkb_level, fda_label, guideline, "
                  "pmid: the drug-gene pair's row in cpic-table.csv. ehr_priority: the phenotype's row in "
                  "phenotype-table.csv."),
        "rows": rows,
    }


# --- output ---------------------------------------------------------------------------------------------------------

def _sorted(codes: dict[str, str]) -> dict[str, str]:
    return dict(sorted(codes.items(), key=lambda kv: (not kv[0].isdigit(), int(kv[0]) if kv[0].isdigit() else 0,
                                                       kv[0])))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cdc-repo", type=Path, required=True, help="clone or bare mirror of cqframework/opioid-cds-r4")
    ap.add_argument("--canvas", type=Path, required=True, help="canvas wheel or sdist (pip download canvas==0.261.0)")
    ap.add_argument("--pypgx", type=Path, required=True, help="pypgx wheel or sdist (pip download pypgx==0.27.0)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    cdc = cdc_value_sets(args.cdc_repo)
    canvas = Archive(args.canvas)
    ecqm, missing = canvas_value_sets(canvas)
    pypgx = Archive(args.pypgx)
    cpic = cpic_rows(pypgx)
    commit = next(iter(cdc.values()))["provenance"]["commit"]
    out = {
        "_source": ("Generated by scripts/build_value_sets.py from the CDC Opioid Prescribing Support IG value sets "
                    f"(CC0, CDC; github.com/cqframework/opioid-cds-r4 @ {commit}), the eCQM value sets shipped in "
                    f"PyPI canvas {canvas.version} ({canvas.license}) and the CPIC recommendations shipped in PyPI "
                    f"pypgx {pypgx.version} ({pypgx.license}; CPIC data CC0). Do not edit by hand; re-run the script. "
                    "LOINC is Regenstrief's, SNOMED CT is IHTSDO's, RxNorm is NLM's."),
        "not_found": missing,
        "value_sets": {**cdc, **ecqm},
        "cpic": cpic,
    }
    args.out.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    for key, vs in out["value_sets"].items():
        print(f"{key}: " + ", ".join(f"{s.rsplit('/', 1)[-1]} {len(c)}" for s, c in vs["codes"].items()))
    print(f"cpic: {len(cpic['rows'])} rows; not found: {missing or 'none'} -> {args.out}")


if __name__ == "__main__":
    main()
