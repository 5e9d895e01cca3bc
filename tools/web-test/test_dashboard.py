"""Drives Baton's dashboard in a real headless Chromium (Selenium), as an operator would look at it.

    python test_dashboard.py --url http://127.0.0.1:8700 --run 1 --screenshots DIR

The run must be the example flow (examples/payments-end-of-day.json), ended: four jobs, `check` failed
once and succeeded on its retry. The script checks that each page shows what the API says, that the run
page draws every job succeeded and a bar for every attempt, that a read-only dashboard refuses actions,
and that no page logs a script error; it saves a screenshot of each page in DIR. It exits 1 naming the
first check that failed.
"""

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By


class Failed(Exception):
    pass


def browser(width):
    options = Options()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", f"--window-size={width},1000"):
        options.add_argument(argument)
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)


def wait_for(driver, what, condition, limit=20):
    """Waits until `condition(driver)` is true, checking every 100 ms; `limit` only guards against a hang."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            if condition(driver):
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise Failed(f"waited {limit} s in vain for {what} on {driver.current_url}")


def snap(driver, folder, name):
    """A screenshot of the whole page, not only what the window shows."""
    height = driver.execute_script("return Math.max(document.body.scrollHeight, 600)")
    width = driver.get_window_size()["width"]
    driver.set_window_size(width, height + 100)
    driver.save_screenshot(os.path.join(folder, f"{name}.png"))
    driver.set_window_size(width, 1000)


def errors(driver):
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE" and "favicon" not in entry["message"]]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--run", required=True, type=int)
    parser.add_argument("--screenshots", required=True)
    arguments = parser.parse_args()
    base = arguments.url.rstrip("/")
    os.makedirs(arguments.screenshots, exist_ok=True)
    expected = json.load(urllib.request.urlopen(f"{base}/api/status?run={arguments.run}"))
    attempts = json.load(urllib.request.urlopen(f"{base}/api/attempts?run={arguments.run}"))["attempts"]
    if expected["run"]["state"] != "succeeded":
        raise Failed(f"run {arguments.run} is {expected['run']['state']}, not succeeded")

    driver = browser(1500)
    try:
        # Products: the example's product, with its figures.
        driver.get(base + "/")
        wait_for(driver, "the payments product", lambda d: "payments" in d.find_element(By.CSS_SELECTOR, "#content table").text)
        wait_for(driver, "the live mark", lambda d: "live" in d.find_element(By.ID, "live").text)
        snap(driver, arguments.screenshots, "products")

        # Runs: the run, succeeded; the state filter keeps it, another state does not.
        driver.get(base + "/runs?state=succeeded")
        wait_for(driver, f"run {arguments.run} listed", lambda d: d.find_element(By.LINK_TEXT, str(arguments.run)))
        snap(driver, arguments.screenshots, "runs")
        driver.get(base + "/runs?state=failed")
        wait_for(driver, "an empty list of failed runs", lambda d: d.find_element(By.CSS_SELECTOR, "#content td.muted").text == "none")

        # The run: every job drawn succeeded, a bar for each attempt, the retried job's two.
        driver.get(f"{base}/run?id={arguments.run}")
        wait_for(driver, "the run's graph", lambda d: len(d.find_elements(By.CSS_SELECTOR, "#dag g.node")) == len(expected["jobs"]))
        states = {node.get_attribute("data-job"): node.get_attribute("data-state") for node in driver.find_elements(By.CSS_SELECTOR, "#dag g.node")}
        if states != {job["job"]: "succeeded" for job in expected["jobs"]}:
            raise Failed(f"the graph shows {states}, not every job succeeded")
        wait_for(driver, "a bar for every attempt", lambda d: len(d.find_elements(By.CSS_SELECTOR, "#gantt rect.bar")) == len(attempts))
        bars = [(bar.get_attribute("data-job"), bar.get_attribute("data-attempt")) for bar in driver.find_elements(By.CSS_SELECTOR, "#gantt rect.bar")]
        if sorted(bars) != sorted((a["job"], str(a["attempt"])) for a in attempts):
            raise Failed(f"the attempts drawn are {bars}, not {[(a['job'], a['attempt']) for a in attempts]}")
        if ("check", "2") not in bars or ("check", "1") not in bars:
            raise Failed("the retried job check does not show its two attempts")
        rows = driver.find_elements(By.CSS_SELECTOR, "#attempts tbody tr")
        if len(rows) != len(attempts):
            raise Failed(f"the attempts table has {len(rows)} rows for {len(attempts)} attempts")
        if "retrying" not in driver.find_element(By.ID, "attempts").text:
            raise Failed("the failed first attempt of check is not shown as retrying")
        if str(expected["run"]["moment"]) not in driver.find_element(By.CSS_SELECTOR, "#content .facts").text:
            raise Failed("the run's entry moment is not shown")
        snap(driver, arguments.screenshots, "run")

        # The flow: its graph, and its jobs.
        driver.get(base + "/flow?name=payments/end-of-day")
        wait_for(driver, "the flow's graph", lambda d: len(d.find_elements(By.CSS_SELECTOR, "g.node")) == len(expected["jobs"]))
        snap(driver, arguments.screenshots, "flow")

        # Shards and workers: each worker listed.
        driver.get(base + "/shards")
        wait_for(driver, "the workers", lambda d: "dev/1" in d.find_element(By.ID, "content").text and "dev/2" in d.find_element(By.ID, "content").text)
        snap(driver, arguments.screenshots, "shards")

        # A narrow screen (a laptop's half) still lays the run out.
        driver.set_window_size(800, 1000)
        driver.get(f"{base}/run?id={arguments.run}")
        wait_for(driver, "the run's graph on a narrow screen", lambda d: len(d.find_elements(By.CSS_SELECTOR, "#dag g.node")) == len(expected["jobs"]))

        problems = errors(driver)
        if problems:
            raise Failed(f"the pages logged errors: {problems}")
    finally:
        driver.quit()

    # Read-only without keys: an action is refused and says why; nothing was stopped.
    request = urllib.request.Request(f"{base}/api/stop", data=b'{"run": %d}' % arguments.run, method="POST", headers={"X-Baton": "act"})
    try:
        urllib.request.urlopen(request)
        raise Failed("a read-only dashboard took an action")
    except urllib.error.HTTPError as error:
        body = error.read().decode()
        if error.code != 403 or "read-only" not in body:
            raise Failed(f"an action on a read-only dashboard got {error.code}: {body}")
    print(f"the dashboard showed run {arguments.run}: {len(expected['jobs'])} jobs succeeded, {len(attempts)} attempts; screenshots in {arguments.screenshots}")


if __name__ == "__main__":
    try:
        main()
    except Failed as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        sys.exit(1)
