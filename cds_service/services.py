"""The CDS services this app offers: one per medication hook, all running the same rules."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .fhir.prefetch import prefetch_templates

_DATA = json.loads((Path(__file__).parent / "data" / "services.json").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Service:
    id: str
    hook: str
    title: str
    description: str

    def discovery(self) -> dict:
        return {"hook": self.hook, "id": self.id, "title": self.title, "description": self.description,
                "prefetch": prefetch_templates(dstu2=self.hook == "medication-prescribe"), "usageRequirements": _DATA["usageRequirements"]}


SERVICES: dict[str, Service] = {s["id"]: Service(**s) for s in _DATA["services"]}
