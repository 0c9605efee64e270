"""In a real headless Chromium against a real uvicorn: /docs and /redoc render the API's
operations with every request answered by this API (ReDoc's CDN logo is stopped by the pages'
CSP before it is sent), and the sign-in link printed by `optarena keys local` (what `make run`
calls) opens the dashboard signed in, with the token gone from the address bar, once."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route

from tests.api.dashboard.browser import launched, shot
from tests.support.procs import BIN, Service, free_port, migrate, service_env

LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, str]]:
    """The API on a fresh SQLite default, and the sign-in link `keys local` printed for it."""
    cwd, env = tmp_path_factory.mktemp("docs"), service_env()
    done = migrate(env, cwd)
    assert done.returncode == 0, done.stderr
    port = free_port()
    out = subprocess.run([str(BIN / "optarena"), "keys", "local", "--port", str(port)], env=env, cwd=cwd,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    link = re.search(r"http://127\.0\.0\.1:\d+/login\?token=\S+", out.stdout)
    assert link, out.stdout
    svc = Service(env, cwd)
    svc.port, svc.url = port, f"http://127.0.0.1:{port}"  # the port the link names
    try:
        svc.start_api()
        yield svc, link.group(0)
    finally:
        svc.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched() as b:
        yield b


class Traffic:
    """Every URL a browser context requests; any request for another host that reaches the
    network is aborted (and recorded), so a CDN asset fails the test rather than hanging it."""

    def __init__(self, context: BrowserContext):
        self.seen: list[str] = []
        self.leaked: list[str] = []
        self.blocked: list[str] = []  # stopped by the page's CSP inside the browser, never sent
        context.route("**/*", self._only_local)
        context.on("request", lambda r: self.seen.append(r.url))
        context.on("requestfailed", lambda r: self.blocked.append(r.url) if r.failure == "csp" else None)

    def _only_local(self, route: Route) -> None:
        if urlparse(route.request.url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            self.leaked.append(route.request.url)
            route.abort("internetdisconnected")

    def assert_local(self) -> None:
        assert self.leaked == []
        # data: and blob: URLs are made inside the page; everything else must have come from here.
        network = [u for u in self.seen if urlparse(u).scheme not in ("data", "blob")]
        assert network and all(urlparse(u).hostname in LOCAL_HOSTS or u in self.blocked
                               for u in network), network


def _page(browser: Browser) -> tuple[Page, Traffic]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    return context.new_page(), Traffic(context)


def test_swagger_ui_renders_from_local_assets(local: tuple[Service, str], browser: Browser) -> None:
    svc, _ = local
    page, traffic = _page(browser)
    page.goto(f"{svc.url}/docs")
    post_jobs = page.locator(".opblock-post:has(.opblock-summary-path[data-path='/jobs'])")
    post_jobs.wait_for(timeout=30_000)
    assert "Create Job" in post_jobs.inner_text()
    assert page.locator(".opblock").count() > 20  # every operation, not just the first
    shot(page, "docs-swagger-offline.png")
    traffic.assert_local()
    assert any(u.endswith("/ui/docs/swagger-ui-bundle.js") for u in traffic.seen)
    page.context.close()


def test_redoc_renders_from_local_assets(local: tuple[Service, str], browser: Browser) -> None:
    svc, _ = local
    page, traffic = _page(browser)
    page.goto(f"{svc.url}/redoc")
    page.locator("h2", has_text="Create Job").first.wait_for(timeout=30_000)
    assert page.locator("h2", has_text="List Jobs").count() >= 1
    shot(page, "docs-redoc-offline.png")
    traffic.assert_local()
    assert any(u.endswith("/ui/docs/redoc.standalone.js") for u in traffic.seen)
    page.context.close()


def test_printed_link_opens_the_dashboard_signed_in(local: tuple[Service, str], browser: Browser) -> None:
    svc, link = local
    page, traffic = _page(browser)
    page.goto(link)
    page.wait_for_selector("h1:has-text('No jobs yet')")  # GET /jobs answered: signed in
    assert page.url == f"{svc.url}/"  # redirected: the token left the address bar
    assert page.locator("#login[open]").count() == 0
    cookies = {c["name"]: c for c in page.context.cookies()}
    token = link.split("token=", 1)[1]
    # The browser keeps a key of its own; the token in the link is spent.
    assert cookies["optarena_session"]["value"] not in ("", token) and cookies["optarena_session"]["httpOnly"]
    traffic.assert_local()

    page.goto(link)  # the same link a second time
    assert "not valid" in page.inner_text("#login-refused")
    page.click("text=Open the dashboard")  # the old session is still there
    page.wait_for_selector("h1:has-text('No jobs yet')")
    page.context.close()
