"""Settings a hospital's operator gets wrong: every mistake stops the start with one line naming the setting
(exit status 2), never a traceback, never silently ignored (a misspelt rule id leaves the rule on; a threshold
of the wrong type made the rule raise on every call and drop its card)."""
from __future__ import annotations

import pytest

from cds_service import create_app
from cds_service.cli import main
from cds_service.config import ConfigError

MISTAKES = {
    "an indicator EHRs do not know": ("CDS_RULE_INDICATORS", '{"high-mme": "urgent"}', "must be one of"),
    "a threshold as text": ("CDS_RULE_PARAMS", '{"high-mme": {"reassess_mme": "50"}}', "expected int"),
    "a misspelt parameter": ("CDS_RULE_PARAMS", '{"high-mme": {"reasess_mme": 50}}', "did you mean 'reassess_mme'"),
    "a misspelt rule id in the params": ("CDS_RULE_PARAMS", '{"hihg-mme": {"reassess_mme": 50}}', "did you mean 'high-mme'"),
    "the rule id of the old docs": ("CDS_RULES_DISABLED", "bowel-regimen", "did you mean 'opioid-bowel-regimen'"),
    "a misspelt variable": ("CDS_MAX_CARD", "5", "did you mean CDS_MAX_CARDS"),
    "a port out of range": ("CDS_PORT", "70000", "at most 65535"),
    "a database the store does not support": ("CDS_DATABASE_URL", "mysql://cds@db/cds", "unsupported database"),
    "not a database URL": ("CDS_DATABASE_URL", "cds-db:5432", "not a database URL"),
    "code lists of the wrong shape": ("CDS_CODE_LISTS_EXTRA", '{"serious_illness": 5}', "code_lists.json"),
}


@pytest.mark.parametrize("case", MISTAKES, ids=list(MISTAKES))
def test_a_mistaken_setting_is_one_line_and_exit_status_2(monkeypatch, capsys, case):
    name, value, message = MISTAKES[case]
    monkeypatch.setenv(name, value)
    assert main(["config"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and name.split("[")[0] in err and message in err, err


def test_the_same_mistakes_stop_create_app(config, monkeypatch):
    monkeypatch.setenv("CDS_RULE_INDICATORS", '{"high-mme": "urgent"}')
    with pytest.raises(ConfigError, match="RULE_INDICATORS"):
        create_app(config)


def test_a_valid_parameter_change_is_accepted(config):
    app = create_app({**config, "RULE_PARAMS": {"high-mme": {"reassess_mme": 60, "avoid_mme": 100.0}}})
    assert app.extensions["cds_engine"].params["high-mme"]["reassess_mme"] == 60


def test_the_test_suites_own_variables_are_not_settings_and_are_allowed(config, monkeypatch):
    monkeypatch.setenv("CDS_TEST_DATABASE_URL", "postgresql+psycopg://cds@127.0.0.1/cds_test")
    assert create_app(config)


EVALUATE_REQUEST = "requests/high-mme/fires-90-mme-with-breakthrough-oxycodone.order-sign.r4.json"


@pytest.mark.parametrize("args, message", [
    (["evaluate", "/no/such/request.json"], "cannot read"),
    (["evaluate", "{bad}"], "is not JSON"),
    (["evaluate", "{good}", "--now", "yesterday"], "ISO 8601"),
], ids=["missing file", "invalid JSON", "a bad --now"])
def test_evaluate_mistakes_are_one_line_and_exit_status_2(tmp_path, capsys, args, message):
    from conftest import FIXTURES

    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    args = [a.replace("{bad}", str(bad)).replace("{good}", str(FIXTURES / EVALUATE_REQUEST)) for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_evaluate_is_read_only_and_needs_no_auth_settings(tmp_path, monkeypatch, capsys):
    """A debugging run in a production pod: required mode and the pod's database in the environment; evaluate
    answers, and the database gets no "cards shown" (the governance figures stay true)."""
    import json

    from cds_service.store import Store
    from conftest import FIXTURES

    production = f"sqlite:///{tmp_path / 'production.sqlite3'}"
    Store(production).close()
    monkeypatch.setenv("CDS_AUTH_MODE", "required")
    monkeypatch.setenv("CDS_DATABASE_URL", production)
    assert main(["evaluate", str(FIXTURES / EVALUATE_REQUEST), "--now", "2026-11-22"]) == 0
    assert json.loads(capsys.readouterr().out)["cards"]
    assert Store(production).rule_summary() == {}


@pytest.mark.parametrize("cpu_max, most", [("200000 100000\n", 2), ("150000 100000\n", 2), ("50000 100000\n", 1),
                                           ("max 100000\n", None)])
def test_workers_follow_the_containers_cpu_quota(tmp_path, cpu_max, most):
    import os

    from cds_service.cli import available_cpus

    path = tmp_path / "cpu.max"
    path.write_text(cpu_max, encoding="ascii")
    host = len(os.sched_getaffinity(0))
    assert available_cpus(str(path)) == (min(host, most) if most else host)
    assert available_cpus(str(tmp_path / "absent")) == host
