"""Safe on the network by default: the app listens on 127.0.0.1 unless told
otherwise, and told otherwise without login it refuses to serve anyone."""

import ipaddress
from pathlib import Path

import pytest
from shared import app_process
from streamlit import config
from streamlit.testing.v1 import AppTest


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
