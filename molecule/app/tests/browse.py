"""A person's path through the site in a real browser, run in the browser's
container (tests/images/browser) by test_web.py:

    browse.py SITE EMAIL PASSWORD SCREENSHOT

Chromium, headless, first without the ACME server's root (the control: it
refuses the site), then trusting it the way a person adds a CA to their
browser (its NSS database), opens https://SITE/, follows "Sign In", signs
in with the email and password, follows "List all Artists" and waits for
the artists megapi lists. Prints what it saw as JSON; the
screenshot of the last page is saved whatever happens."""

import json
import os
import subprocess
import sys

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait

site, email, password, screenshot = sys.argv[1:5]
ROOT = "/usr/local/share/ca-certificates/acme-root.crt"

nssdb = os.path.expanduser("~/.pki/nssdb")
if not os.path.exists(os.path.join(nssdb, "cert9.db")):
    os.makedirs(nssdb, exist_ok=True)
    subprocess.run(["certutil", "-d", f"sql:{nssdb}", "-N", "--empty-password"], check=True, capture_output=True)
# A run before this one may have added it: the control starts without it.
subprocess.run(["certutil", "-d", f"sql:{nssdb}", "-D", "-n", "acme-test-root"], capture_output=True, check=False)

options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
# No sandbox: Chromium's needs user namespaces, which Docker's default
# seccomp profile refuses; the container is the boundary, and the browser
# visits the site under test only.
for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
    options.add_argument(argument)


def browser():
    # Chromium reads its NSS database when it starts.
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


seen_steps = {}
# The control: without the root, Chromium refuses the site (its warning page).
driver = browser()
try:
    driver.get(f"https://{site}/")
    seen_steps["untrusted_title"] = driver.title
finally:
    driver.quit()

subprocess.run(["certutil", "-d", f"sql:{nssdb}", "-A", "-t", "C,,", "-n", "acme-test-root", "-i", ROOT],
               check=True, capture_output=True)
driver = browser()
wait = WebDriverWait(driver, 60)
try:
    driver.get(f"https://{site}/")
    seen_steps["title"] = driver.title
    driver.find_element(By.CSS_SELECTOR, 'a[href="/sign-in"]').click()
    wait.until(seen.visibility_of_element_located((By.ID, "email"))).send_keys(email)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, 'button[type="submit"]').click()
    wait.until(seen.url_to_be(f"https://{site}/homepage"))
    seen_steps["signed_in_at"] = driver.current_url
    wait.until(seen.element_to_be_clickable(
        (By.XPATH, '//a[@href="/homepage/byartist"][contains(., "List all Artists")]'))).click()
    cards = wait.until(seen.visibility_of_all_elements_located(
        (By.CSS_SELECTOR, 'a[href^="/homepage/albumsByArtist"] h3')))
    seen_steps["artists_at"] = driver.current_url
    seen_steps["artists"] = [card.text for card in cards]
except WebDriverException as error:
    seen_steps["error"] = f"{type(error).__name__}: {error.msg}"
    seen_steps["at"] = driver.current_url
    seen_steps["page"] = driver.find_element(By.TAG_NAME, "body").text[:2000]
finally:
    # What the page showed, whatever happened; a browser that crashed
    # cannot show it, and says so instead of hiding what came before.
    try:
        driver.save_screenshot(screenshot)
    except WebDriverException as error:
        seen_steps["screenshot"] = f"{type(error).__name__}: {error.msg}"
    driver.quit()
    print(json.dumps(seen_steps))
