"""The wheel, as a user outside the checkout gets it: built from this tree, installed into a directory of its
own, run from elsewhere. It must carry everything the service reads at run time (card files, the examples the
review page shows, the knowledge tables): `serve`, a hook call, the review page, `evaluate` and `cards`."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from conftest import FIXTURES, ROOT, SERVICE_FOR_HOOK, free_port

REQUEST = FIXTURES / "requests" / "high-mme" / "fires-90-mme-with-breakthrough-oxycodone.order-sign.r4.json"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel installed alone (its dependencies are this environment's) into a fresh directory."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"  # a copy without build leftovers, as a clone would be
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", "*.egg-info", "build", "__pycache__"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(work / "dist"),
                            str(source)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((work / "dist").glob("*.whl"))
    target = work / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                           str(wheel)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    elsewhere = work / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    env.update(PYTHONPATH=str(target), CDS_AUTH_MODE="development", CDS_DATABASE=str(elsewhere / "cds.sqlite3"))
    return target, elsewhere, env


def _cli(installed, *args: str) -> subprocess.CompletedProcess:
    target, elsewhere, env = installed
    return subprocess.run([sys.executable, "-m", "cds_service.cli", *args], capture_output=True, text=True,
                          cwd=elsewhere, env=env, timeout=120)


def test_the_installed_package_is_the_wheel_not_the_checkout(installed):
    target, elsewhere, env = installed
    where = subprocess.run([sys.executable, "-c", "import cds_service, cds_service.config as c; "
                            "print(cds_service.__file__); print(c.load_settings()['CARDS_DIR'])"],
                           capture_output=True, text=True, cwd=elsewhere, env=env)
    module, cards = where.stdout.split()
    assert module.startswith(str(target)) and cards.startswith(str(target))
    assert (Path(cards) / "_common.yaml").is_file()


def test_evaluate_and_cards_run_from_the_wheel(installed):
    request = installed[1] / "request.json"
    shutil.copy(REQUEST, request)
    evaluated = _cli(installed, "evaluate", str(request), "--now", "2026-11-22")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert "high-mme" in {c["source"]["topic"]["code"] for c in json.loads(evaluated.stdout)["cards"]}
    review = _cli(installed, "cards")
    assert review.returncode == 0, review.stderr[-2000:]
    assert "## `fentanyl-patch-opioid-naive`" in review.stdout
    assert _cli(installed, "--version").stdout.startswith("cds-service 0.1.0")


def test_serve_answers_a_hook_call_and_shows_the_review_page_from_the_wheel(installed):
    target, elsewhere, env = installed
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "cds_service.cli", "serve", "--port", str(port), "--workers", "1"],
                            cwd=elsewhere, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if requests.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        hook = requests.post(f"{base}/cds-services/{SERVICE_FOR_HOOK['order-sign']}",
                             json=json.loads(REQUEST.read_text(encoding="utf-8")), timeout=10)
        assert hook.status_code == 200 and hook.json()["cards"]
        page = requests.get(base + "/", timeout=10)
        assert page.status_code == 200 and "fentanyl-patch-opioid-naive" in page.text
        assert "no example installed" not in page.text  # the examples ship in the wheel
    finally:
        proc.terminate()
        proc.wait(timeout=30)
