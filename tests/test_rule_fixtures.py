"""Every scenario in fhir_fixtures/, in each of its three hook forms, gets exactly the cards it expects:
the rules fire where they should (recall) and nowhere else (precision)."""
from __future__ import annotations

import importlib.util
import json
from datetime import datetime, timezone

import pytest

from cds_service import create_app
from conftest import FIXTURES, folded_ids, post_hook, rule_ids

SCENARIOS = sorted((FIXTURES / "scenarios").glob("*/*.json"))
REQUESTS = sorted((FIXTURES / "requests").glob("*/*.json"))


def _builder():
    spec = importlib.util.spec_from_file_location("build_requests", FIXTURES / "build_requests.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _expected(request_path) -> list[str]:
    """The scenario's expected rule ids, in card order; order-select may differ when it selects fewer drafts."""
    case, hook = request_path.name.split(".")[:2]
    scenario = json.loads((FIXTURES / "scenarios" / request_path.parent.name / f"{case}.json").read_text())
    return scenario.get(f"expect_{hook.replace('-', '_')}", scenario["expect"])


def _expected_folded(request_path) -> dict[str, list[str]]:
    case = request_path.name.split(".")[0]
    scenario = json.loads((FIXTURES / "scenarios" / request_path.parent.name / f"{case}.json").read_text())
    return scenario.get("expect_folded", {})


@pytest.mark.parametrize("path", REQUESTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_request_gets_exactly_the_expected_cards(client, path):
    """``expect``: every finding, in card order, a card's folded findings right after it; ``expect_folded``:
    which findings are lines of a critical card rather than cards of their own."""
    body = json.loads(path.read_text(encoding="utf-8"))
    response = post_hook(client, body)
    assert rule_ids(response) == _expected(path)
    assert folded_ids(response) == _expected_folded(path)


def test_written_requests_match_their_scenarios():
    built = _builder().all_requests()
    on_disk = set(REQUESTS)
    assert on_disk == set(built), "run: python fhir_fixtures/build_requests.py"
    for path, body in built.items():
        assert json.loads(path.read_text(encoding="utf-8")) == body, f"{path.name} is stale; rebuild the requests"


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_scenario_name_agrees_with_its_expectation(path):
    scenario = json.loads(path.read_text(encoding="utf-8"))
    for key in [k for k in scenario if k.startswith("expect")]:
        if path.stem.startswith("fires-"):
            assert path.parent.name in scenario[key]
        else:
            assert path.parent.name not in scenario[key]


LATER = datetime(2029, 3, 1, 15, 0, tzinfo=timezone.utc)  # 830 days after the fixtures' reference date


@pytest.fixture
def later_client(config):
    """A server answering long after the fixtures were written, as the README's demo does."""
    app = create_app({**config, "CLOCK": lambda: LATER})
    yield app.test_client()
    app.extensions["cds_store"].close()


@pytest.mark.parametrize("path", REQUESTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_request_gets_the_same_cards_on_a_later_day(later_client, path):
    body = json.loads(path.read_text(encoding="utf-8"))
    assert rule_ids(post_hook(later_client, body)) == _expected(path)
