"""The catalog in a real headless browser (tests/browser.py): search as a person types it,
pages reached by clicking, the lineage graph's links, and the browser's search ranking
compared with the Python reference (model.search) on random queries over 2,000 features."""
from __future__ import annotations

import random
import signal
from datetime import UTC, datetime

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait

from featurestore.catalog import model
from featurestore.store import FeatureStore
from featurestore.testing.repos import write_repo
from tests.browser import follow_lineage_to, screenshot, search_and_open, start_ui
from tests.unit.test_catalog import EVIL, registry


def catalog_repo(tmp_path, state):
    repo = write_repo(tmp_path / "repo", project="catalog_test")
    FeatureStore(repo).registry_store.update(lambda s: [s.collection(k).update(state.collection(k))
                                                        for k, _, _ in model.KIND_PAGES])
    return repo


def test_search_then_click_through_view_lineage_and_service(browser, tmp_path):
    # The server judges freshness by its own clock, so the registry's times are relative to it.
    process, url = start_ui(catalog_repo(tmp_path, registry(views=100, now=datetime.now(UTC))))
    wait = WebDriverWait(browser, 10)
    try:
        text = search_and_open(browser, url, "conv", "driver_hourly_stats:conv_rate", "catalog")
        assert "conversion" in text and "Float64" in text and "fresh" in text
        browser.get(url)
        milliseconds = browser.execute_script(
            "const t = performance.now(); for (let i = 0; i < 20; i++) window.catalogSearch('conv rate', 50);"
            "return (performance.now() - t) / 20")
        assert milliseconds < 50  # one ranking of the 2,105 items, per keystroke: instant
        assert "curl -s -X POST" in follow_lineage_to(browser, "driver_ranking", "catalog")
        browser.find_element(By.LINK_TEXT, "Freshness").click()
        wait.until(ready.title_contains("Freshness"))
        assert "stale" in browser.find_element(By.TAG_NAME, "main").text
        screenshot(browser, "catalog-freshness")
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)


def test_the_browsers_ranking_is_the_python_reference(browser, tmp_path):
    state = registry(views=100)
    process, url = start_ui(catalog_repo(tmp_path, state))
    try:
        browser.get(url)
        items = model.items(state)
        rng = random.Random(11)
        vocabulary = ["conv", "rate", "driver", "g4", "f1", "generated", "float64", "gold", "ana", "view 7",
                      "tier", "x", "_0", "ranking", "team", "hourly", "plus"]
        for _ in range(60):
            query = " ".join(rng.sample(vocabulary, rng.randint(1, 2)))
            in_browser = browser.execute_script("return window.catalogSearch(arguments[0], 50)"
                                                ".map(i => i.name)", query)
            assert in_browser == [i.name for i in model.search(items, query)], query
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)


def test_script_in_every_text_field_is_shown_not_run(browser, tmp_path):
    process, url = start_ui(catalog_repo(tmp_path, registry(EVIL)))
    try:
        for page in ("index.html", "feature-views/driver_hourly_stats.html", "feature-services/driver_ranking.html",
                     "entities/driver.html", "data-sources/driver_source.html",
                     "on-demand-feature-views/rate_plus_val.html"):
            browser.get(f"{url}{page}")
            assert browser.execute_script("return typeof window.alertCalled") == "undefined"
            assert EVIL in browser.find_element(By.TAG_NAME, "body").text, page
        browser.get(url)
        browser.find_element(By.ID, "q").send_keys("gold")
        result = WebDriverWait(browser, 10).until(ready.presence_of_element_located((By.CSS_SELECTOR, "#results li")))
        assert EVIL in result.text  # the description, as text in the result list
        alerts = browser.execute_script("return 1")  # an alert would have blocked this call
        assert alerts == 1
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)
