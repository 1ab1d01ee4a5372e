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
