"""The service behind a real nginx with TLS, configured by ``deploy/nginx.conf`` itself.

nginx terminates TLS with a throw-away certificate (trustme) and passes WebSockets on to
{% if cookiecutter.broadcast == "redis" %}two processes of the service that share a Redis{% else %}a process of the service{% endif %}. What goes wrong behind a proxy
is checked through it: the upgrade, the Origin policy (the page's own ``https://`` origin gets
in, a foreign one does not), the client address the service logs, and a real browser on the
demo page over ``https://``.
"""

import asyncio
import base64
import hashlib
import json
import os
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from selenium.webdriver.common.by import By
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from {{ cookiecutter.package_name }}.listener import WEBSOCKET_PATH

from .browser import start_chromium, text_of, wait_for
{% if cookiecutter.broadcast == "redis" %}
from .redis_server import RedisServer
{% endif %}
from .server import (
    OPEN_TIMEOUT,
    ServerProcess,
    StartServer,
    free_port,
    open_client_at,
    receive,
)
{% if cookiecutter.auth == "jwt" %}
from .support import AUTH_HEADERS, RECEIVE_TIMEOUT, wait_until
{% else %}
from .support import RECEIVE_TIMEOUT, wait_until
{% endif %}

pytestmark = [pytest.mark.server, pytest.mark.proxy]

SITE_CONFIG = Path(__file__).parent.parent / "deploy" / "nginx.conf"
CLIENT_ADDRESS = "127.0.0.2"
"""Where the tests' clients connect from: another loopback address than nginx's own."""


@dataclass(frozen=True)
class Proxy:
    url: str
    """``https://localhost:<port>``: the site as a browser sees it."""
    workers: list[ServerProcess]
    tls: ssl.SSLContext
    """Trusts the test's certificate authority, and only it."""
    spki_hash: str
    """Base64 SHA-256 of the certificate's public key, for Chromium to trust it."""

    @property
    def ws_url(self) -> str:
        return self.url.replace("https://", "wss://") + WEBSOCKET_PATH


def site_config(upstreams: list[int], port: int, certificate: Path, key: Path) -> str:
    """``deploy/nginx.conf`` with the test's ports and certificate: only these values change."""
    text = SITE_CONFIG.read_text()
    documented_upstreams = [f"    server 127.0.0.1:{8001 + n};\n" for n in range(len(upstreams))]
    replacements = {
        **{
            line: f"    server 127.0.0.1:{upstream};\n"
            for line, upstream in zip(documented_upstreams, upstreams, strict=True)
        },
        "listen 443 ssl;": f"listen 127.0.0.1:{port} ssl;",
        "server_name example.com;": "server_name localhost;",
        "/etc/ssl/certs/example.com.pem;": f"{certificate};",
        "/etc/ssl/private/example.com.key;": f"{key};",
    }
    for documented, used in replacements.items():
        assert text.count(documented) == 1, f"deploy/nginx.conf no longer has {documented!r}"
        text = text.replace(documented, used)
    return text


def main_config(prefix: Path) -> str:
    """The rest of an nginx.conf, all of it inside ``prefix``; the site goes in the http block."""
    lines = [
        "user root;" if os.geteuid() == 0 else "",  # else nginx as root switches to nobody
        "worker_processes 1;",
        f"pid {prefix}/nginx.pid;",
        f"error_log {prefix}/error.log;",
        "events {}",
        "http {",
        f"    access_log {prefix}/access.log;",
        *(
            f"    {kind}_temp_path {prefix}/{kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        ),
        f"    include {prefix}/site.conf;",
        "}",
    ]
    return "\n".join(lines) + "\n"


def needed_nginx() -> str:
    """nginx's path; skipped where it is missing, except on CI (``.ci/run`` installs it)."""
    nginx = shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx", "/sbin/nginx") if Path(path).exists()), None
    )
    if nginx is None:
        message = "nginx is needed for the proxy tests (apt-get install nginx)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return nginx


@pytest.fixture(scope="module")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def proxy(
    tmp_path: Path,
    start_server_process: StartServer,
{% if cookiecutter.broadcast == "redis" %}
    redis_server: RedisServer,
{% endif %}
    certificate_authority: trustme.CA,
) -> Iterator[Proxy]:
    nginx = needed_nginx()
{% if cookiecutter.broadcast == "redis" %}
    settings = {"REDIS_URL": redis_server.url}
    workers = [start_server_process(settings), start_server_process(settings)]
{% else %}
    workers = [start_server_process()]
{% endif %}
    certificate = certificate_authority.issue_cert("localhost", "127.0.0.1")
    certificate_path, key_path = tmp_path / "site.pem", tmp_path / "site.key"
    certificate.cert_chain_pems[0].write_to_path(str(certificate_path))
    certificate.private_key_pem.write_to_path(str(key_path))
    port = free_port()
    upstreams = [worker.port for worker in workers]
    (tmp_path / "site.conf").write_text(site_config(upstreams, port, certificate_path, key_path))
    (tmp_path / "nginx.conf").write_text(main_config(tmp_path))
    command = [nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", "stderr"]
    checked = subprocess.run(  # noqa: S603 (nginx, with the test's own configuration)
        [*command, "-t"], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen(  # noqa: S603 (the same)
        [*command, "-g", "daemon off;"], stderr=subprocess.PIPE, text=True
    )

    tls = ssl.create_default_context()
    certificate_authority.configure_trust(tls)
    public_key = x509.load_pem_x509_certificate(certificate.cert_chain_pems[0].bytes()).public_key()
    spki = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    spki_hash = base64.b64encode(hashlib.sha256(spki).digest()).decode()
    site = Proxy(f"https://localhost:{port}", workers, tls, spki_hash)
    try:
        with httpx.Client(verify=tls, timeout=RECEIVE_TIMEOUT) as http:

            def answers() -> bool:
                assert process.poll() is None, process.communicate()[1]
                try:
                    return http.get(f"{site.url}/health/ready").status_code == 200
                except httpx.TransportError:
                    return False

            assert wait_until(answers, OPEN_TIMEOUT), "nginx did not answer"
        yield site
    finally:
        process.terminate()
        process.communicate(timeout=RECEIVE_TIMEOUT)


def through(proxy: Proxy, origin: str | None = None) -> connect:
    """A client of the service through nginx over ``wss://``, from ``CLIENT_ADDRESS``."""
    return open_client_at(
        proxy.ws_url, origin=origin, ssl=proxy.tls, local_addr=(CLIENT_ADDRESS, 0)
    )


async def send(ws: ClientConnection, message: dict[str, object]) -> dict[str, object]:
    await ws.send(json.dumps(message))
    return await receive(ws)


def test_wss_through_the_proxy_is_welcomed_by_every_worker(proxy: Proxy) -> None:
    """nginx upgrades ``wss://`` and spreads connections over the workers{% if cookiecutter.broadcast == "redis" %}; a topic message
    published on one worker reaches a subscriber on the other{% endif %}."""

    async def run() -> None:
        async with through(proxy) as first, through(proxy) as second:
            assert (await receive(first))["type"] == (await receive(second))["type"] == "welcome"
            counts = [worker.health()["connections"] for worker in proxy.workers]
            assert sum(counts) == 2
            assert all(counts)  # round robin: each worker holds one
            subscribed = await send(first, {"type": "subscribe", "topic": "room:proxy"})
            assert subscribed["type"] == "subscribed"
            await second.send(json.dumps({"type": "publish", "topic": "room:proxy", "text": "hi"}))
            message = await receive(first)
            assert (message["type"], message["text"]) == ("message", "hi")

    asyncio.run(run())


def test_the_origin_policy_holds_through_the_proxy(proxy: Proxy) -> None:
    """The page's own ``https://`` origin gets in through nginx; a foreign one gets 403."""

    async def run() -> int:
        async with through(proxy, origin=proxy.url) as own:
            assert (await receive(own))["type"] == "welcome"
        with pytest.raises(InvalidStatus) as refused:
            async with through(proxy, origin="https://evil.example"):
                pass
        return refused.value.response.status_code

    assert asyncio.run(run()) == 403


def test_the_service_logs_the_clients_address_not_the_proxys(proxy: Proxy) -> None:
    async def run() -> str:
        async with through(proxy) as ws:
            return str((await receive(ws))["connection_id"])

    connection_id = asyncio.run(run())

    def ended() -> list[dict[str, object]]:
        return [
            record
            for worker in proxy.workers
            for record in worker.logged("connection ended", connection_id=connection_id)
        ]

    assert wait_until(lambda: bool(ended()))
    (record,) = ended()
    assert record["client"] == CLIENT_ADDRESS  # nginx itself connects from 127.0.0.1


@pytest.mark.browser
def test_the_demo_page_over_https_talks_to_the_service_through_the_proxy(
    proxy: Proxy, tmp_path: Path
) -> None:
    """Chromium trusts the test's certificate (and only it), loads the page over ``https://``
    and exchanges frames with the service over ``wss://``."""
    trust = f"--ignore-certificate-errors-spki-list={proxy.spki_hash}"
    chromium = start_chromium(tmp_path / "profile", extra_flags=[trust])
    try:
{% if cookiecutter.auth == "jwt" %}
        chromium.get(f"{proxy.url}/health")
        token = AUTH_HEADERS["Authorization"].removeprefix("Bearer ")
        chromium.add_cookie({"name": "token", "value": token, "path": "/", "secure": True})
{% endif %}
        chromium.get(f"{proxy.url}/")
        wait_for(chromium, lambda: text_of(chromium, "status").startswith("connected as "))
        chromium.find_element(By.ID, "ping").click()
        wait_for(chromium, lambda: '"pong"' in text_of(chromium, "log"))
    finally:
        chromium.quit()
