"""The operators' dashboard on :8080, in a real browser (issue 24, item 2).

Debian's headless Chromium, driven by selenium through Debian's chromedriver, opens the
first monitoring host's dashboard over TLS. The browser trusts the dashboard's CA
through its own certificate store (a throwaway NSS database, as a desktop's would), so
a wrong name or an unknown certificate fails the page. It logs in, sees every tier
healthy, then a load balancer is killed (the one without the VIP: no user notices) and
the browser must see that host turn red, and green again once it is back.

Screenshots go to reports/screens/, the timings to reports/drills/ops-dashboard.json.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from horilla_ops.monitoring.maintenance import parse_duration
from lab import testing
from lab.cluster import balancer, monitoring, report
from lab.state import PROJECT_DIR

SCREENS = PROJECT_DIR / "reports" / "screens"
USER = "operator"
# Generous ceilings on this 2-core machine (the measured figures go to the report):
# the page sees what Prometheus saw, so a death shows after the next scrape (every
# 10 s, failing after its 10 s timeout at worst) and the page's next refresh (5 s).
CEILING_RED_SECONDS = 60
CEILING_GREEN_SECONDS = 120
MONITORING_HOST = "mon1"
LOGGED_IN = "(logged in)"


def dashboard_url(path: str = "/") -> str:
    return f"https://{testing.address(MONITORING_HOST)}:8080{path}"


def ca_file() -> Path:
    return testing.secrets_dir() / "ops-dashboard-ca" / "ca.crt"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    # A home of its own, whose NSS database trusts the dashboard's CA and nothing else
    # added: Chromium on Linux takes user-added roots from ~/.pki/nssdb.
    home = tmp_path_factory.mktemp("chromium-home")
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    subprocess.run(["certutil", "-d", f"sql:{nssdb}", "-N", "--empty-password"], check=True)
    subprocess.run(
        ["certutil", "-d", f"sql:{nssdb}", "-A", "-t", "C,,", "-n", "horilla-ops-dashboard", "-i", str(ca_file())],
        check=True,
    )
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,2000"):
        options.add_argument(argument)
    service = Service("/usr/bin/chromedriver", env={**os.environ, "HOME": str(home)})
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def screenshot(driver, name: str) -> Path:
    SCREENS.mkdir(parents=True, exist_ok=True)
    target = SCREENS / f"{name}.png"
    # The whole page, not the window: the hosts table and the graphs are below the fold.
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, max(1000, min(int(height) + 40, 4000)))
    driver.save_screenshot(str(target))
    return target


def host_row(driver, name: str) -> dict | None:
    """The hosts table's row of `name` as the page shows it now: its class and its cells."""
    return driver.execute_script(
        "const r = document.querySelector(`#hosts tr[data-host='${arguments[0]}']`);"
        "return r ? {cls: r.className, up: r.dataset.up, cells: [...r.cells].map(c => c.textContent)} : null;",
        name,
    )


def page_text(driver) -> str:
    """What the page says now, for a failure's message."""
    return driver.execute_script("return document.body ? document.body.innerText : '';")[:500]


def every_tier_up(browser) -> tuple[list, list] | None:
    """The tiers and hosts tables, when every row shows up (None otherwise)."""
    tiers = browser.execute_script(
        "return [...document.querySelectorAll('#tiers tbody tr')].map(r => [r.dataset.job, r.className]);"
    )
    hosts = browser.execute_script(
        "return [...document.querySelectorAll('#hosts tbody tr')].map(r => [r.dataset.host, r.dataset.up]);"
    )
    if not tiers or not hosts:
        return None
    down = [job for job, cls in tiers if cls != "up"] + [h for h, up in hosts if up != "true"]
    return (tiers, hosts) if not down else None


def test_the_certificate_names_the_host_and_is_signed_by_the_dashboard_ca():
    context = ssl.create_default_context(cafile=str(ca_file()))
    with urllib.request.urlopen(dashboard_url("/login"), context=context, timeout=10) as response:  # noqa: S310
        assert response.status == 200
        assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
    # Nothing but the login page answers before a login.
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(dashboard_url("/api/status"), context=context, timeout=10)  # noqa: S310
    assert refused.value.code == 401


def submit_login(driver, password: str) -> str:
    """Fills the login form and submits it; returns the error the page then shows, or
    LOGGED_IN once the dashboard itself is shown. It waits for the answer's page (a click
    does not)."""
    from selenium.webdriver.common.by import By

    driver.get(dashboard_url("/login"))
    driver.find_element(By.ID, "user").send_keys(USER)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login-submit").click()

    def answered() -> str | None:
        if driver.current_url == dashboard_url("/"):
            return LOGGED_IN
        errors = driver.find_elements(By.ID, "login-error")
        return errors[0].text if errors else None

    try:
        return testing.wait_for(lambda: answered(), 20, "the answer to the login", interval=0.25)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the page at {driver.current_url}: {page_text(driver)}") from None


def test_a_wrong_password_is_refused_in_the_browser(browser):
    assert submit_login(browser, "not-the-password-at-all") == "Wrong user or password."
    screenshot(browser, "dashboard-login-refused")


def test_the_operator_logs_in_and_sees_every_tier_healthy(browser):
    from selenium.webdriver.common.by import By

    # The failed login just before makes the next one wait (a second per failure): the
    # page says so, and a try after that wait gets in.
    error = submit_login(browser, testing.secret("ops_dashboard_password"))
    for _ in range(5):
        if not error.startswith("Too many failed logins"):
            break
        time.sleep(2)
        error = submit_login(browser, testing.secret("ops_dashboard_password"))
    assert error == LOGGED_IN, error

    tiers, hosts = testing.wait_for(
        lambda: every_tier_up(browser), 120, "every tier and every host up on the dashboard", interval=2
    )
    assert {h for h, _ in hosts} == set(testing.names()), "every host of the site is on the page"
    assert {"node", "horilla", "patroni", "etcd", "redis", "haproxy", "elasticsearch"} <= {j for j, _ in tiers}
    health = browser.find_element(By.ID, "health").text
    assert "PostgreSQL leader" in health
    assert "NONE" not in health
    # The graphs were drawn by Chart.js, served by the dashboard itself.
    testing.wait_for(
        lambda: browser.execute_script("return typeof Chart !== 'undefined' && !!Chart.getChart('chart-cpu_percent')"),
        60,
        "the CPU graph drawn",
    )
    screenshot(browser, "dashboard-healthy")


def prometheus_says_up(name: str) -> bool | None:
    """What the dashboard's Prometheus (mon1's) holds now for the host's node_exporter."""
    samples = monitoring.query(f'up{{job="node", instance="{name}"}}')
    return samples[0]["value"][1] == "1" if samples else None


def watch(browser, victim: str, up: bool, ceiling: float, since: float) -> tuple[float, float]:
    """Seconds from `since` until Prometheus holds the victim `up` (or down), and until the
    page shows it."""
    started = since
    known = None
    while time.monotonic() - started < ceiling:
        if known is None and prometheus_says_up(victim) is up:
            known = time.monotonic() - started
        row = host_row(browser, victim) or {}
        if row.get("up") == ("true" if up else "false"):
            shown = time.monotonic() - started
            return (shown if known is None else known), shown
        time.sleep(0.25)
    raise AssertionError(f"{victim} not shown {'up' if up else 'down'} on the dashboard within {ceiling:.0f} s")


def test_a_killed_node_turns_red_and_green_again(browser):
    """The page shows what Prometheus knows within one scrape interval (it asks every 5 s);
    Prometheus itself knows of a death at the first scrape after it fails (the scrape's
    timeout), of a return at the first scrape after it: both figures are reported."""
    from selenium.webdriver.common.by import By

    holders = balancer.vip_holders()
    victim = next(lb for lb in balancer.lbs() if lb not in holders)
    interval = parse_duration(monitoring.alerting_settings()["scrape_interval"]).total_seconds()

    killed = time.monotonic()
    testing.kill(victim)
    try:
        known_down, red = watch(browser, victim, up=False, ceiling=CEILING_RED_SECONDS, since=killed)
        assert "down" in host_row(browser, victim)["cls"]
        assert browser.find_element(By.ID, "overall").text.startswith("ATTENTION")
        screenshot(browser, "dashboard-node-down")
    finally:
        restarted = time.monotonic()
        testing.start(victim)
    known_up, green = watch(browser, victim, up=True, ceiling=CEILING_GREEN_SECONDS, since=restarted)
    # node_exporter answers before the host's own services do: the row stays red, naming the
    # probes that still fail (HAProxy's, while it starts), until they pass too.
    testing.wait_for(
        lambda: (host_row(browser, victim) or {}).get("cls") == "up",
        CEILING_GREEN_SECONDS,
        f"{victim}'s row green with no failed probe",
    )
    all_green = time.monotonic() - restarted
    testing.wait_for(balancer.healthy, 120, "both load balancers serving again")
    testing.wait_for(lambda: every_tier_up(browser), 120, "every tier up on the page again", interval=2)
    screenshot(browser, "dashboard-recovered")

    report.write(
        "ops-dashboard",
        settings={
            "browser": subprocess.run(["chromium", "--version"], capture_output=True, text=True).stdout.strip(),
            "scrape_interval_s": interval,
            "page_refresh_s": 5,
        },
        events=[
            {
                "name": "load_balancer_killed",
                "victim": victim,
                "seconds_kill_to_prometheus_down": round(known_down, 1),
                "seconds_kill_to_red": round(red, 1),
                "seconds_prometheus_to_red": round(red - known_down, 1),
                "seconds_start_to_prometheus_up": round(known_up, 1),
                "seconds_start_to_green": round(green, 1),
                "seconds_prometheus_to_green": round(green - known_up, 1),
                "seconds_start_to_probes_green": round(all_green, 1),
            }
        ],
        totals={"screens": sorted(p.name for p in SCREENS.glob("dashboard-*.png"))},
    )
    # The page itself adds at most one scrape interval to what Prometheus knows.
    assert red - known_down <= interval, (red, known_down)
    assert green - known_up <= interval, (green, known_up)


def test_an_announced_maintenance_is_shaded_on_every_graph_and_listed(browser):
    """What the rolling deploy, the switchover and the OS updates announce (horilla-maintenance
    on the first monitoring host) shows on the page: a shaded period on every graph, drawn
    by the page's own Chart.js plugin, and a row naming its reason."""
    from selenium.webdriver.common.by import By

    reason = "dashboard browser test"
    mon = testing.host(MONITORING_HOST)
    graphs = browser.execute_script("return [...document.querySelectorAll('canvas[id^=chart-]')].map(c => c.id);")
    assert len(graphs) == 5, graphs

    def shaded() -> dict:
        # Ask as the page's next refresh would (it asks once a minute, and a single early ask
        # could still miss the announcement or fail while the previous test's load balancer
        # comes back), then read what the page drew; a miss says what the page was given.
        answer = browser.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "get('/api/history').then("
            "  (data) => { showHistory(data); done({maintenance: data.maintenance, error: data.error || null}); },"
            "  (err) => done({error: String(err)}));"
        )
        drawn = browser.execute_script(
            "return Object.fromEntries([...document.querySelectorAll('canvas[id^=chart-]')]"
            ".map(c => [c.id, Number(c.dataset.maintenanceDrawn || 0)]));"
        )
        listed = browser.find_element(By.ID, "maintenance-history").text
        if all(drawn.values()) and reason in listed:
            return drawn
        raise AssertionError(f"drawn {drawn}, listed {listed!r}, /api/history gave {answer}")

    announced = time.monotonic()
    mon.check_output("horilla-maintenance start --reason %s --duration 10m", reason)
    try:
        testing.wait_for(
            lambda: monitoring.query(f'horilla_maintenance_active{{reason="{reason}"}} == 1'),
            60,
            "Prometheus holding the announced maintenance",
        )
        known = time.monotonic() - announced
        drawn = testing.wait_for(shaded, 60, "the maintenance shaded on every graph and listed", interval=3)
        shown = time.monotonic() - announced
        assert set(drawn) == set(graphs)
        screenshot(browser, "dashboard-maintenance")
    finally:
        mon.check_output("horilla-maintenance end")
    report.add_event(
        "ops-dashboard",
        {
            "name": "maintenance_announced",
            "seconds_announce_to_prometheus": round(known, 1),
            "seconds_announce_to_shaded": round(shown, 1),
            "graphs_shaded": len(drawn),
        },
    )
