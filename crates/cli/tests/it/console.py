#!/usr/bin/env python3
"""Drives the zoll console in Debian's Chromium (headless, through chromium-driver and
Selenium): log in, open the project, the repository and see the artifact's tag, open the
artifact's page and the pull gate's explanation, filter with htmx, log out, and check that the session is gone. Then the same walk with JavaScript turned
off. With JavaScript on, axe (axe-selenium-python, which bundles axe-core: offline) checks
each page for accessibility violations. Prints one JSON line with what it saw, the browser
console's errors and CSP reports included. Run by crates/cli/tests/it/console.rs against a
real `zoll serve`.

With JavaScript on, it also administers: creates a robot with push rights on the project's
robots page and reports its secret (the test pushes with it), runs the audit chain's
verification on the audit page, and opens the approvals inbox and one request.

Usage: console.py BASE USER PASSWORD PROJECT REPOSITORY TAG SCREENSHOT_DIR
"""

import json
import os
import sys

from axe_selenium_python import Axe
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait


def browser(javascript):
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1280,800", "--disable-gpu", "--no-first-run"):
        opts.add_argument(arg)
    if not javascript:
        opts.add_experimental_option(
            "prefs", {"profile.managed_default_content_settings.javascript": 2})
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The system's driver: Selenium Manager never downloads anything.
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def problems(driver):
    """Console entries that are errors or CSP reports (anything at SEVERE, or a refusal)."""
    bad = []
    for e in driver.get_log("browser"):
        msg = e.get("message", "")
        if e.get("level") == "SEVERE" or "Content Security Policy" in msg or "Refused to" in msg:
            bad.append(msg)
    return bad


def accessibility(driver, seen, page):
    """axe-core's violations on the current page, by rule id (JavaScript on only)."""
    axe = Axe(driver)
    axe.inject()
    found = axe.run()["violations"]
    seen.setdefault("axe", {})[page] = [
        {"id": v["id"], "nodes": [n["html"] for n in v["nodes"]][:3]} for v in found]


def administer(driver, base, project, shots, seen, check):
    """Robots, audit and approvals pages (JavaScript on): what they showed, robot secret
    included, into `seen`."""
    wait = WebDriverWait(driver, 10)
    driver.get(f"{base}/ui/projects/{project}/robots")
    wait.until(ec.presence_of_element_located((By.NAME, "name")))
    check("robots")
    driver.find_element(By.NAME, "name").send_keys("ci")
    driver.find_element(By.CSS_SELECTOR, "input[name=action][value=push]").click()
    driver.find_element(By.CSS_SELECTOR, "form.admin button[type=submit]").click()
    secret = wait.until(ec.presence_of_element_located((By.ID, "robot-secret")))
    seen["robot"] = {
        "heading": driver.find_element(By.CSS_SELECTOR, "section.secret h2").text,
        "secret": secret.get_attribute("value"),
        "listed": [th.text for th in driver.find_elements(By.CSS_SELECTOR, "tbody th")],
    }
    check("robot_created")
    if shots:
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(os.path.join(shots, "robots.png"))
    # Reloading the list shows no secret again.
    driver.get(f"{base}/ui/projects/{project}/robots")
    seen["robot"]["shown_again"] = bool(driver.find_elements(By.ID, "robot-secret"))
    driver.get(f"{base}/ui/audit?n=10")
    wait.until(ec.presence_of_element_located((By.ID, "results")))
    check("audit")
    driver.find_element(By.CSS_SELECTOR, "form[action='/ui/audit/verify'] button").click()
    # The old page says "Not verified yet."; the new one has the result.
    chain = wait.until(ec.presence_of_element_located(
        (By.CSS_SELECTOR, "#chain ~ p.ok, #chain ~ p.error")))
    seen["audit_chain"] = chain.text
    seen["audit_actions"] = [c.text for c in driver.find_elements(
        By.CSS_SELECTOR, "#results tbody td code")]
    check("audit_verified")
    if shots:
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(os.path.join(shots, "audit.png"))
    driver.get(f"{base}/ui/approvals")
    wait.until(ec.presence_of_element_located((By.ID, "open")))
    links = driver.find_elements(By.CSS_SELECTOR, "#results tbody th a")
    seen["approvals"] = [a.get_attribute("href") for a in links]
    seen["approvals_row"] = [td.text for td in driver.find_elements(
        By.CSS_SELECTOR, "#results tbody td")]
    check("approvals")
    if shots:
        driver.save_screenshot(os.path.join(shots, "approvals.png"))
    if links:
        links[0].click()
        wait.until(ec.url_contains("/ui/approvals/"))
        seen["approve_command"] = driver.find_elements(By.CSS_SELECTOR, "pre code")[-1].text
        check("approval")
    driver.get(f"{base}/ui/projects/{project}/retention")
    check("retention")
    driver.get(f"{base}/ui/projects/{project}/members")
    check("members")
    driver.get(f"{base}/ui/projects/{project}/settings")
    check("settings")
    driver.get(f"{base}/ui/projects/{project}/webhooks")
    check("webhooks")


def walk(driver, base, user, password, project, repo, tag, shots, javascript):
    wait = WebDriverWait(driver, 10)
    seen = {}
    check = (lambda page: accessibility(driver, seen, page)) if javascript else (lambda _: None)
    driver.get(base + "/ui/")
    wait.until(ec.url_contains("/ui/login"))
    check("login")
    seen["skip_link"] = driver.find_element(By.CSS_SELECTOR, "a.skip-link").get_attribute("href")
    driver.find_element(By.NAME, "username").send_keys(user)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
    wait.until(ec.url_contains("/ui/projects"))
    seen["projects"] = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#results th a")]
    check("projects")
    # With JavaScript on, the page loaded htmx from our own origin (the CSP allows nothing
    # else); with it off, htmx never ran (so the walk below used plain links and forms).
    try:
        seen["htmx"] = driver.execute_script(
            "return typeof htmx === 'object' ? htmx.version : 'not loaded'")
    except Exception:  # noqa: BLE001 - a browser may refuse script entirely
        seen["htmx"] = "not loaded"
    driver.find_element(By.LINK_TEXT, project).click()
    wait.until(ec.url_contains("/ui/projects/" + project))
    seen["repositories"] = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#results th a")]
    check("repositories")
    driver.find_element(By.LINK_TEXT, repo).click()
    wait.until(ec.url_contains("/ui/repositories/" + repo))
    rows = driver.find_elements(By.CSS_SELECTOR, "#results tbody tr")
    seen["artifacts"] = [r.find_element(By.CSS_SELECTOR, "th").text for r in rows]
    seen["digests"] = [r.find_element(By.CSS_SELECTOR, "code").text for r in rows]
    seen["caption"] = driver.find_element(By.CSS_SELECTOR, "#results caption").text
    check("artifacts")
    if javascript and shots:
        driver.save_screenshot(os.path.join(shots, "artifacts.png"))
    # The artifact page (the digest links to it) and its explanation of the pull gate.
    rows[0].find_element(By.CSS_SELECTOR, "td a").click()
    wait.until(ec.url_contains("/artifacts/sha256:"))
    seen["artifact_title"] = driver.find_element(By.TAG_NAME, "h1").text
    seen["artifact_sections"] = [h.text for h in driver.find_elements(By.CSS_SELECTOR, "main h2")]
    check("artifact")
    if javascript and shots:
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(os.path.join(shots, "artifact.png"))
    driver.find_element(By.PARTIAL_LINK_TEXT, "Why is this blocked").click()
    wait.until(ec.url_contains("/explain"))
    seen["verdict"] = driver.find_element(By.CSS_SELECTOR, "p.verdict").text
    seen["to_pass"] = [li.text for li in driver.find_elements(
        By.CSS_SELECTOR, "section[aria-labelledby=to-pass] li")]
    check("explain")
    if javascript and shots:
        driver.save_screenshot(os.path.join(shots, "explain.png"))
    driver.get(base + "/ui/repositories/" + repo)
    wait.until(ec.url_contains("/ui/repositories/" + repo))
    # Filtering: with htmx the results swap in place and the address keeps the query; without
    # JavaScript the form reloads the page with the same query.
    box = driver.find_element(By.NAME, "q")
    box.clear()
    box.send_keys(tag[:1])
    driver.find_element(By.CSS_SELECTOR, "form.filter button[type=submit]").click()
    wait.until(ec.url_contains("q=" + tag[:1]))
    wait.until(lambda d: tag in [e.text for e in d.find_elements(By.CSS_SELECTOR, "#results th")])
    seen["filtered_url"] = driver.current_url
    if javascript:
        administer(driver, base, project, shots, seen, check)
    driver.find_element(By.CSS_SELECTOR, "header form button[type=submit]").click()
    wait.until(ec.url_contains("/ui/login"))
    # The session ended on the server: the projects page sends back to the login.
    driver.get(base + "/ui/projects")
    wait.until(ec.url_contains("/ui/login"))
    seen["after_logout"] = driver.current_url
    seen["console_problems"] = problems(driver)
    return seen


def main():
    base, user, password, project, repo, tag, shots = sys.argv[1:8]
    report = {}
    for javascript in (True, False):
        driver = browser(javascript)
        try:
            report["js" if javascript else "no_js"] = walk(
                driver, base, user, password, project, repo, tag, shots, javascript)
        except Exception:
            print(f"javascript={javascript} at {driver.current_url}; console: "
                  f"{driver.get_log('browser')}", file=sys.stderr)
            raise
        finally:
            driver.quit()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
