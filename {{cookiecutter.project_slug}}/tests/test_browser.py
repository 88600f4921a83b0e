"""The demo page in a real headless Chromium: same-origin works, every other origin is refused.

A browser sends an ``Origin`` header the page cannot forge, so these tests show what a web
page elsewhere could and could not do with a visitor's browser (and, with auth, their cookie).
"""

import json
import threading
{% if cookiecutter.auth == "jwt" %}
import time
{% endif %}
from collections.abc import Iterator
{% if cookiecutter.auth == "jwt" %}
from datetime import timedelta
{% endif %}
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from {{ cookiecutter.package_name }}.app import DEMO_PAGE
{% if cookiecutter.auth == "jwt" %}
from {{ cookiecutter.package_name }}.auth import TOKEN_COOKIE, mint_token
{% endif %}

from .browser import start_chromium, text_of, wait_for
{% if cookiecutter.broadcast == "redis" %}
from .redis_server import RedisServer
{% endif %}
from .server import ServerProcess, StartServer, free_port, open_sync_client
{% if cookiecutter.auth == "jwt" %}
from .support import RECEIVE_TIMEOUT, TEST_JWT_SECRET, wait_until
{% else %}
from .support import RECEIVE_TIMEOUT, wait_until
{% endif %}

pytestmark = [pytest.mark.browser, pytest.mark.server]

REFUSED = "refused or unreachable"


@pytest.fixture(scope="module")
def shared_chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    browser = start_chromium(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture
def chromium(shared_chromium: webdriver.Chrome) -> webdriver.Chrome:
    """A headless Chromium holding no cookies, on a blank page (one browser for the module)."""
    shared_chromium.get("about:blank")
    shared_chromium.execute_cdp_cmd("Network.clearBrowserCookies", {})
    return shared_chromium


@pytest.fixture
def other_origin() -> Iterator[str]:
    """Another web site on this machine, serving the same demo page from another port."""

    class DemoPage(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = DEMO_PAGE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet: the test reads the service's log, not this one's

    site = ThreadingHTTPServer(("127.0.0.1", free_port()), DemoPage)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{site.server_address[1]}"
    finally:
        site.shutdown()
        site.server_close()


def connect_page_to(chromium: webdriver.Chrome, url: str) -> None:
    """Make the open page connect to ``url``, with the page's own origin."""
    chromium.execute_script("connect(arguments[0]);", url)


def status(chromium: webdriver.Chrome) -> str:
    return text_of(chromium, "status")


def frames_received(chromium: webdriver.Chrome) -> list[dict[str, object]]:
    lines = text_of(chromium, "log").splitlines()
    return [json.loads(line[3:]) for line in lines if line.startswith("<- ")]


{% if cookiecutter.auth == "jwt" %}
def hold_token(chromium: webdriver.Chrome, site: str, user: str) -> None:
    """Give the browser an auth cookie for ``site`` (``http://host:port``), as a login would."""
    chromium.get(f"{site}/health")  # a cookie is set for the site on display
    token = mint_token(TEST_JWT_SECRET, user, timedelta(minutes=5))
    chromium.add_cookie({"name": TOKEN_COOKIE, "value": token, "path": "/"})


{% endif %}
def test_demo_page_connects_and_echoes(chromium: webdriver.Chrome, server: ServerProcess) -> None:
    """The page served by the service connects, and a typed text comes back as an echo."""
{% if cookiecutter.auth == "jwt" %}
    hold_token(chromium, server.url, "alice")
{% endif %}
    chromium.get(f"{server.url}/")
    wait_for(chromium, lambda: status(chromium).startswith("connected as "))

    text_box = chromium.find_element(By.ID, "text")
    text_box.clear()
    text_box.send_keys("Hello from Chromium ✓")
    chromium.find_element(By.ID, "send").click()
    chromium.find_element(By.ID, "ping").click()
    wait_for(chromium, lambda: len(frames_received(chromium)) == 3)

    welcome, echo, pong = frames_received(chromium)
    assert welcome["type"] == "welcome"
{% if cookiecutter.auth == "jwt" %}
    assert welcome["user"] == "alice"
{% endif %}
    assert echo == {
        "type": "echo",
        "text": "Hello from Chromium ✓",
        "connection_id": welcome["connection_id"],
        "count": 1,
    }
    assert pong == {"type": "pong"}


{% if cookiecutter.broadcast == "redis" %}
def test_two_tabs_see_the_same_topic_messages(
    chromium: webdriver.Chrome, start_server_process: StartServer, redis_server: RedisServer
) -> None:
    """Two tabs subscribe to the page's topic; what one publishes shows in both, numbered."""
    server = start_server_process({"REDIS_URL": redis_server.url})
    assert wait_until(lambda: server.health()["broadcast"]["available"])
{% else %}
def test_two_tabs_see_the_same_topic_messages(
    chromium: webdriver.Chrome, server: ServerProcess
) -> None:
    """Two tabs subscribe to the page's topic; what one publishes shows in both, numbered."""
{% endif %}
{% if cookiecutter.auth == "jwt" %}
    hold_token(chromium, server.url, "alice")
{% endif %}
    tabs: list[str] = []
    for _ in range(2):
        if tabs:
            chromium.switch_to.new_window("tab")
        chromium.get(f"{server.url}/")
        wait_for(chromium, lambda: status(chromium).startswith("connected as "))
        chromium.find_element(By.ID, "subscribe").click()
        wait_for(chromium, lambda: "subscribed" in [f["type"] for f in frames_received(chromium)])
        tabs.append(chromium.current_window_handle)

    text_box = chromium.find_element(By.ID, "text")
    text_box.clear()
    text_box.send_keys("to both tabs")
    chromium.find_element(By.ID, "publish").click()

    try:
        for tab in tabs:
            chromium.switch_to.window(tab)
            wait_for(chromium, lambda: text_of(chromium, "messages") != "")
            assert text_of(chromium, "messages").startswith("room:lobby #1 from ")
            assert text_of(chromium, "messages").endswith(": to both tabs")
    finally:
        chromium.switch_to.window(tabs[1])
        chromium.close()
        chromium.switch_to.window(tabs[0])


{% if cookiecutter.broadcast == "redis" %}
def test_a_tab_that_lost_its_connection_comes_back_and_misses_nothing(
    chromium: webdriver.Chrome, start_server_process: StartServer, redis_server: RedisServer
) -> None:
{% else %}
def test_a_tab_that_lost_its_connection_comes_back_and_misses_nothing(
    chromium: webdriver.Chrome, start_server_process: StartServer
) -> None:
{% endif %}
    """The page reconnects on its own after its connection drops, subscribes again with
    ``since``, and shows the message published while it was away, numbered next."""
{% if cookiecutter.broadcast == "redis" %}
    server = start_server_process({"REDIS_URL": redis_server.url})
{% else %}
    server = start_server_process()
{% endif %}
    assert wait_until(lambda: server.health()["broadcast"]["available"])
{% if cookiecutter.auth == "jwt" %}
    hold_token(chromium, server.url, "alice")
{% endif %}
    chromium.get(f"{server.url}/")
    wait_for(chromium, lambda: status(chromium).startswith("connected as "))
    chromium.find_element(By.ID, "subscribe").click()
    wait_for(chromium, lambda: "subscribed" in [f["type"] for f in frames_received(chromium)])

    chromium.execute_script("socket.close();")  # the connection drops; the page comes back
    wait_for(chromium, lambda: "reconnecting" in status(chromium))
    publish_while_away(server, "room:lobby", "while you were away")
    wait_for(chromium, lambda: "while you were away" in text_of(chromium, "messages"))

    subscribed = [f for f in frames_received(chromium) if f["type"] == "subscribed"]
    assert [f["recovered"] for f in subscribed] == [False, True]  # new, then resumed
    assert text_of(chromium, "messages").startswith("room:lobby #1 from ")


def publish_while_away(server: ServerProcess, topic: str, text: str) -> None:
    """Publish from a program's own connection, and wait until the service has handled it."""
    with open_sync_client(server) as ws:
        ws.recv(timeout=RECEIVE_TIMEOUT)
        ws.send(json.dumps({"type": "publish", "topic": topic, "text": text}))
        ws.send(json.dumps({"type": "ping"}))
        assert json.loads(ws.recv(timeout=RECEIVE_TIMEOUT)) == {"type": "pong"}


def test_page_from_another_site_is_refused(
    chromium: webdriver.Chrome, server: ServerProcess, other_origin: str
) -> None:
    """The same page served by another site (another port) cannot open the service's socket."""
{% if cookiecutter.auth == "jwt" %}
    hold_token(chromium, server.url, "alice")  # the visitor is logged in: exactly what CSWSH abuses
{% endif %}
    chromium.get(f"{other_origin}/")
    log_start = len(server.log())
    connect_page_to(chromium, server.ws_url)

    wait_for(chromium, lambda: status(chromium) == REFUSED)
    assert wait_until(lambda: f"from origin {other_origin!r}" in server.log()[log_start:])


def test_page_from_an_allowed_site_connects(
    chromium: webdriver.Chrome, start_server_process: StartServer, other_origin: str
) -> None:
    """Listing the other site in ALLOWED_ORIGINS lets that same page in."""
    server = start_server_process({"ALLOWED_ORIGINS": other_origin})
{% if cookiecutter.auth == "jwt" %}
    hold_token(chromium, server.url, "alice")
{% endif %}
    chromium.get(f"{other_origin}/")
    connect_page_to(chromium, server.ws_url)

    wait_for(chromium, lambda: status(chromium).startswith("connected as "))


def test_localhost_and_127_0_0_1_are_different_origins(
    chromium: webdriver.Chrome, server: ServerProcess
) -> None:
    """The service's own page, opened as localhost, may not connect to 127.0.0.1."""
    page_origin = f"http://localhost:{server.port}"
{% if cookiecutter.auth == "jwt" %}
    hold_token(chromium, page_origin, "alice")
{% endif %}
    chromium.get(f"{page_origin}/")
    wait_for(chromium, lambda: status(chromium).startswith("connected as "))  # localhost to itself

    log_start = len(server.log())
    connect_page_to(chromium, server.ws_url)  # ws://127.0.0.1:...

    wait_for(chromium, lambda: status(chromium) == REFUSED)
    assert wait_until(lambda: f"from origin {page_origin!r}" in server.log()[log_start:])


def test_file_page_is_refused(
    chromium: webdriver.Chrome, server: ServerProcess, tmp_path: Path
) -> None:
    """A page opened from a file (Origin null) cannot connect."""
    page = tmp_path / "demo.html"
    page.write_text(DEMO_PAGE, encoding="utf-8")
    chromium.get(page.as_uri())
    assert status(chromium).startswith("not connected")
    log_start = len(server.log())

    connect_page_to(chromium, server.ws_url)

    wait_for(chromium, lambda: status(chromium) == REFUSED)
    assert wait_until(lambda: "from origin 'null'" in server.log()[log_start:])
{% if cookiecutter.auth == "jwt" %}


def test_browser_without_the_auth_cookie_is_refused(
    chromium: webdriver.Chrome, server: ServerProcess
) -> None:
    """On the service's own page, a browser holding no token cannot connect."""
    log_start = len(server.log())
    chromium.get(f"{server.url}/")

    wait_for(chromium, lambda: status(chromium) == REFUSED)
    assert "from origin" not in server.log()[log_start:]  # refused for the token, not the origin


def test_token_typed_into_the_page_connects_as_its_user(
    chromium: webdriver.Chrome, server: ServerProcess
) -> None:
    """Pasting a token into the page stores it as the cookie and connects as its subject."""
    chromium.get(f"{server.url}/")
    wait_for(chromium, lambda: status(chromium) == REFUSED)

    token = mint_token(TEST_JWT_SECRET, "bob", timedelta(minutes=5))
    chromium.find_element(By.ID, "token").send_keys(token)
    chromium.find_element(By.ID, "use-token").click()

    wait_for(chromium, lambda: status(chromium).endswith("(user bob)"))


def test_the_page_refreshes_its_token_before_it_expires(
    chromium: webdriver.Chrome, server: ServerProcess
) -> None:
    """Connected with a token about to expire, the page sends the newer token it finds in its
    cookie (as a login endpoint would have renewed it) and stays connected past the first."""
    chromium.get(f"{server.url}/health")
    # The page looks for a newer token halfway to the expiry, then every second until it.
    short_lived = mint_token(TEST_JWT_SECRET, "carol", timedelta(seconds=5))
    past_its_expiry = time.monotonic() + 6
    chromium.add_cookie({"name": TOKEN_COOKIE, "value": short_lived, "path": "/"})
    chromium.get(f"{server.url}/")
    wait_for(chromium, lambda: status(chromium).endswith("(user carol)"))
    renewed = mint_token(TEST_JWT_SECRET, "carol", timedelta(hours=1))
    chromium.add_cookie({"name": TOKEN_COOKIE, "value": renewed, "path": "/"})

    wait_for(chromium, lambda: any(f["type"] == "refreshed" for f in frames_received(chromium)))
    # Past the first token's expiry: without the refresh, the server would have closed with 4401.
    time.sleep(max(0.0, past_its_expiry - time.monotonic()))
    chromium.find_element(By.ID, "ping").click()

    wait_for(chromium, lambda: frames_received(chromium)[-1] == {"type": "pong"})
    assert status(chromium).endswith("(user carol)")
{% endif %}
