"""Safe on the network by default: the app listens on 127.0.0.1 unless told
otherwise, told otherwise without login it refuses to serve anyone, and a web page
on another site cannot reach it through a name that resolves to this machine."""

import ipaddress
import re
import socket
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from oidc_provider_mock import run_server_in_thread
from shared import app_process
from streamlit import config
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.testing.v1 import AppTest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect


def listening_addresses(port: int) -> set[str]:
    """The local addresses of the sockets listening on ``port``, IPv4 and IPv6, read
    from the kernel's own tables (addresses in hex, 32-bit words little-endian)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                words = [bytes.fromhex(address[i : i + 8])[::-1] for i in range(0, len(address), 8)]
                found.add(str(ipaddress.ip_address(b"".join(words))))
    return found


def test_make_run_listens_on_the_loopback_address_only(tmp_path: Path) -> None:
    with app_process({"CHAT_STORE": f"sqlite://{tmp_path / 'chat.db'}"}) as (url, _):
        port = int(url.rsplit(":", 1)[1])
        assert listening_addresses(port) == {"127.0.0.1"}


@pytest.fixture
def on_every_interface() -> None:
    config.set_option("server.address", "0.0.0.0")
    yield
    config.set_option("server.address", "127.0.0.1")


@pytest.mark.usefixtures("on_every_interface")
def test_serving_the_network_without_login_is_refused_with_how_to_fix_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    at = AppTest.from_file("../app.py", default_timeout=30).run()
    assert not at.chat_input and "[auth]" in at.error[0].value
    assert "ALLOW_NETWORK_WITHOUT_LOGIN" in at.error[0].value
    assert "no login is configured" in caplog.text  # for the operator, in the server's log


@pytest.mark.usefixtures("on_every_interface")
def test_an_operator_can_accept_the_risk_explicitly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOW_NETWORK_WITHOUT_LOGIN", "true")
    at = AppTest.from_file("../app.py", default_timeout=30).run()
    assert at.chat_input and not at.error


@contextmanager
def app_session(port: int, host: str = "127.0.0.1", origin: str | None = None) -> Iterator[str]:
    """A session of the app on ``port`` as a browser opens one: over its websocket,
    connected to 127.0.0.1 but naming ``host`` (a page whose name was made to
    resolve to this machine sends its own name, and its ``origin``), its page run
    once; yields the session's id, which the app's upload URLs are made of."""
    with (
        socket.create_connection(("127.0.0.1", port)) as connection,
        connect(
            f"ws://{host}:{port}/_stcore/stream",
            sock=connection,
            origin=origin,
            subprotocols=["streamlit"],
            proxy=None,
        ) as websocket,
    ):
        websocket.send(BackMsg(rerun_script=ClientState()).SerializeToString())
        session_id = ""
        while (message := ForwardMsg.FromString(websocket.recv(timeout=60))).WhichOneof("type") != (
            "script_finished"
        ):
            session_id = session_id or message.new_session.initialize.session_id
        yield session_id


def test_a_page_on_another_site_cannot_open_the_apps_websocket(tmp_path: Path) -> None:
    """DNS rebinding: a page on attacker.example, its name made to resolve to
    127.0.0.1, is refused before any session exists; the loopback names are served."""
    with app_process({"CHAT_STORE": f"sqlite://{tmp_path / 'chat.db'}"}) as (url, _):
        port = int(url.rsplit(":", 1)[1])
        for host in ("attacker.example", "127.0.0.1.attacker.example"):
            with pytest.raises(InvalidStatus) as refused, app_session(port, host, f"http://{host}:{port}"):
                pass
            assert refused.value.response.status_code == 403
        for host in ("127.0.0.1", "localhost", "[::1]"):
            with app_session(port, host, f"http://{host}:{port}") as session_id:
                assert session_id


def test_a_team_lists_the_names_its_users_reach_the_app_by(tmp_path: Path) -> None:
    """As README's "Run it for a team" says: the list replaces the loopback names."""
    environment = {"CHAT_STORE": f"sqlite://{tmp_path / 'chat.db'}"}
    with app_process(environment, "--server.allowedHosts", "chat.example.com") as (url, _):
        port = int(url.rsplit(":", 1)[1])
        with app_session(port, "chat.example.com", f"https://chat.example.com:{port}") as session_id:
            assert session_id
        with pytest.raises(InvalidStatus), app_session(port, "attacker.example"):
            pass


def upload(url: str, session_id: str, size: int) -> int:
    """PUT a file of ``size`` bytes to ``session_id``'s upload URL as the page's file
    uploader does (multipart, with the XSRF cookie the app sets and its token);
    the response's status."""
    cookie = urllib.request.urlopen(f"{url}/_stcore/health").headers["Set-Cookie"].split(";")[0]
    boundary = uuid.uuid4().hex
    body = b"".join(
        (
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n".encode(),
            b"Content-Type: application/pdf\r\n\r\n",
            b"%" * size,
            f"\r\n--{boundary}--\r\n".encode(),
        )
    )
    request = urllib.request.Request(
        f"{url}/_stcore/upload_file/{session_id}/{uuid.uuid4()}",
        body,
        method="PUT",
        headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Cookie": cookie,
            "X-Xsrftoken": cookie.split("=", 1)[1],
        },
    )
    try:
        return urllib.request.urlopen(request).status
    except urllib.error.HTTPError as error:
        return error.code


def held_upload_bytes(url: str) -> int:
    """The bytes of uploaded files the app holds in memory, as its own metrics count them."""
    metrics = urllib.request.urlopen(f"{url}/_stcore/metrics").read().decode()
    held = re.search(r'cache_memory_bytes\{cache_type="UploadedFileManager",cache=""\} (\d+)', metrics)
    return int(held[1]) if held else 0


@pytest.fixture
def login(tmp_path: Path) -> Iterator[Path]:
    """A secrets file with [auth] for an OpenID Connect provider on 127.0.0.1."""
    with run_server_in_thread() as server:
        secrets = tmp_path / "secrets.toml"
        secrets.write_text(
            "[auth]\n"
            'redirect_uri = "http://127.0.0.1:8501/oauth2callback"\n'
            'cookie_secret = "a cookie secret for tests only"\n'
            'client_id = "chat"\n'
            'client_secret = "chat-secret"\n'
            f'server_metadata_url = "http://127.0.0.1:{server.server_port}/.well-known/openid-configuration"\n'
        )
        yield secrets


def test_a_visitor_who_has_not_logged_in_cannot_make_the_app_hold_files(tmp_path: Path, login: Path) -> None:
    """The login page's session, whose id anyone who opens it gets, uploads nothing."""
    environment = {"CHAT_STORE": f"sqlite://{tmp_path / 'chat.db'}"}
    with app_process(environment, "--secrets.files", str(login)) as (url, _):
        port = int(url.rsplit(":", 1)[1])
        with app_session(port) as session_id:
            assert [upload(url, session_id, 1_000_000) for _ in range(3)] == [403] * 3
            assert held_upload_bytes(url) == 0


def test_without_login_the_local_user_uploads_as_before(tmp_path: Path) -> None:
    with app_process({"CHAT_STORE": f"sqlite://{tmp_path / 'chat.db'}"}) as (url, _):
        port = int(url.rsplit(":", 1)[1])
        with app_session(port) as session_id:
            assert upload(url, session_id, 1_000_000) == 204
            assert held_upload_bytes(url) == 1_000_000
