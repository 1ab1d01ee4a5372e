"""The governance review page in a real browser: Debian's headless Chromium, driven by selenium through the
system chromedriver, against the service on loopback with cards and feedback recorded over HTTP."""
from __future__ import annotations

import base64
import shutil
import threading

import pytest
import requests
from werkzeug.serving import make_server

from cds_service import create_app
from cds_service.rules import RULES
from conftest import SERVICE_FOR_HOOK, free_port, load_json

FIRES = "requests/naloxone-coprescribe/fires-history-of-opioid-use-disorder.order-sign.r4.json"
PASSWORD = "governance-pw"


@pytest.fixture
def live_server(config):
    app = create_app({**config, "ADMIN_PASSWORD": PASSWORD})
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def browser():
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.fail("Chromium is not installed: `bash .ci/run` installs it (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    yield driver
    driver.quit()


def record_calls_and_feedback(base: str) -> None:
    """Three naloxone cards shown; the prescriber accepts one and overrides two with the card's first reason."""
    url = f"{base}/cds-services/{SERVICE_FOR_HOOK['order-sign']}"
    cards = []
    for _ in range(3):
        response = requests.post(url, json=load_json(FIRES), timeout=10)
        cards.append(next(c for c in response.json()["cards"]
                          if c["source"]["topic"]["code"] == "naloxone-coprescribe"))
    reason = cards[0]["overrideReasons"][0]
    feedback = [{"card": cards[0]["uuid"], "outcome": "accepted", "outcomeTimestamp": "2026-11-22T15:02:00Z",
                 "acceptedSuggestions": [{"id": cards[0]["suggestions"][0]["uuid"]}]}]
    feedback += [{"card": c["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-22T15:03:00Z",
                  "overrideReason": {"reason": reason}} for c in cards[1:]]
    assert requests.post(f"{url}/feedback", json={"feedback": feedback}, timeout=10).json()["stored"] == 3


def test_review_page_shows_real_override_rates_and_every_card(live_server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    record_calls_and_feedback(live_server)
    assert requests.get(live_server + "/", timeout=10).status_code == 401  # the browser would prompt for it

    credential = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {credential}"}})
    browser.get(live_server + "/")
    browser.save_screenshot(str(tmp_path / "review.png"))
    assert browser.title == "Pain-medication safety: card review"

    row = browser.find_element(By.CSS_SELECTOR, 'tr[data-rule="naloxone-coprescribe"]')
    cell = lambda name: row.find_element(By.CSS_SELECTOR, f"td.{name}").text  # noqa: E731
    assert (cell("shown"), cell("accepted"), cell("overridden"), cell("rate")) == ("3", "1", "2", "67%")
    assert cell("reasons").endswith("(2)")  # the card's own first override reason, chosen twice
    quiet = browser.find_element(By.CSS_SELECTOR, 'tr[data-rule="methadone-initiation"]')
    assert quiet.find_element(By.CSS_SELECTOR, "td.shown").text == "0"
    assert quiet.find_element(By.CSS_SELECTOR, "td.rate").text == "–"

    bars = row.find_elements(By.CSS_SELECTOR, "svg.chart rect.shown")
    assert len(bars) == 30
    today = row.find_element(By.CSS_SELECTOR, 'svg.chart rect.shown[data-day="2026-11-22"]')
    assert today.get_attribute("data-count") == "3" and today.size["height"] > 30  # the tallest bar of the row
    yesterday = row.find_element(By.CSS_SELECTOR, 'svg.chart rect.shown[data-day="2026-11-21"]')
    assert yesterday.get_attribute("data-count") == "0" and yesterday.size["height"] == 0
    overridden = row.find_element(By.CSS_SELECTOR, 'svg.chart rect.overridden[data-day="2026-11-22"]')
    assert 0 < overridden.size["height"] < today.size["height"]

    gallery = browser.find_elements(By.CSS_SELECTOR, "section.card")
    assert len(gallery) == len(browser.find_elements(By.CSS_SELECTOR, "#figures tbody tr")) == len(RULES)
    fentanyl = browser.find_element(By.ID, "card-fentanyl-patch-opioid-naive")
    assert "critical" in fentanyl.get_attribute("class")
    assert fentanyl.find_elements(By.CSS_SELECTOR, ".detail strong")  # Markdown rendered, not shown as **
    assert "**" not in fentanyl.find_element(By.CSS_SELECTOR, ".detail").text
    naloxone = browser.find_element(By.ID, "card-naloxone-coprescribe")
    assert naloxone.find_elements(By.CSS_SELECTOR, ".suggestions .suggestion")
    assert naloxone.find_elements(By.CSS_SELECTOR, ".override-reasons li")
    assert naloxone.find_element(By.CSS_SELECTOR, ".source a").get_attribute("href").startswith("https://")
