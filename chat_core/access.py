"""Who may reach the app, and which endpoints its users may call.

Without login every visitor is the one local user, who can read, export and
delete every conversation and call endpoints with the server's AWS credentials.
That is right on one's own machine and wrong for anyone else, so the app serves
the loopback address only, and serving any other address without login is
refused unless the operator accepts the risk by name.

With login, users call endpoints with the app's credentials, so they may add
only the endpoints the operator lists (``ALLOWED_ENDPOINTS``), built-in ones
included; the users the operator names as admins (``CHAT_ADMINS``, as
``issuer#subject``) may call any, and see every user's usage (``usage.report``).

An endpoint listed there allows every inference component it hosts.  What the
operator decides is which instances the team may use and pay for, and those are
the endpoint's: its components share them, as they share the endpoint's ARN in
the app's IAM policy (README).  Components also come and go as models are
redeployed (JumpStart names each deployment anew), which would quietly empty a
list of component names; and ``region/name`` already takes the "/".
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping

from chat_core.errors import ChatError
from chat_core.i18n import Message, Text
from chat_core.models.catalog import ModelSpec

ACCEPT_RISK = "ALLOW_NETWORK_WITHOUT_LOGIN"


class EndpointNotAllowed(ChatError):
    en = "{endpoint} is not one the operator allows (ALLOWED_ENDPOINTS). Ask them to add it."
    ko = "{endpoint}은 운영자가 허용한 엔드포인트가 아닙니다(ALLOWED_ENDPOINTS). 추가를 요청하세요."


REFUSAL = Message(
    "This app is listening on {where}, where other machines can reach it, and no login is "
    "configured: anyone who reaches it could read and delete every conversation and call the "
    "endpoints with this server's AWS credentials, so it serves no one. Configure login "
    '([auth] in .streamlit/secrets.toml; see "Run it for a team" in the README), or serve on '
    "127.0.0.1 only, or set {setting}=true to accept the risk.",
    "이 앱은 다른 컴퓨터에서 접속할 수 있는 {where}에서 "
    "대기 중인데 로그인이 설정되어 있지 않습니다. 접속한 누구나 모든 대화를 읽고 지우며 이 서버의 "
    "AWS 자격 증명으로 엔드포인트를 호출할 수 있으므로 아무에게도 서비스하지 않습니다. 로그인을 "
    '설정하거나(.streamlit/secrets.toml의 [auth], README의 "Run it for a team" 참고), '
    "127.0.0.1에서만 서비스하거나, 위험을 감수하려면 {setting}=true로 설정하세요.",
)
EVERY_INTERFACE = Message("every network interface", "모든 네트워크 인터페이스")


def is_loopback(address: str) -> bool:
    """Whether only this machine can reach ``address`` ("" and 0.0.0.0 mean every interface)."""
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def refusal(address: str, login: bool, environ: Mapping[str, str] = os.environ) -> Text | None:
    """Why the app will not serve on ``address``, or None when it may."""
    if login or is_loopback(address) or environ.get(ACCEPT_RISK, "").lower() == "true":
        return None
    return REFUSAL.format(where=address or EVERY_INTERFACE.format(), setting=ACCEPT_RISK)


def _listed(value: str | None) -> set[str]:
    return {name.strip() for name in (value or "").split(",") if name.strip()}


def is_admin(owner: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the operator names ``owner`` an admin (CHAT_ADMINS): admins call any
    endpoint and see every user's usage."""
    return owner in _listed(environ.get("CHAT_ADMINS"))


def may_call(spec: ModelSpec, owner: str, login: bool, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether ``owner`` may call ``spec``'s endpoint: the bundled model and, without
    login, any; with login, those listed in ALLOWED_ENDPOINTS as ``name`` (in the
    default region) or ``region/name`` (with all their inference components), and
    any for an admin."""
    return spec.is_local or may_call_endpoint(spec.endpoint_name, spec.region, owner, login, environ)


def may_call_endpoint(
    name: str, region: str | None, owner: str, login: bool, environ: Mapping[str, str] = os.environ
) -> bool:
    """``may_call`` for an endpoint known by name, before a model is made of it."""
    if not login or is_admin(owner, environ):
        return True
    return _named(name, region) in _listed(environ.get("ALLOWED_ENDPOINTS"))


def _named(name: str, region: str | None) -> str:
    """How ALLOWED_ENDPOINTS names an endpoint: ``name`` in the default region."""
    return f"{region}/{name}" if region else name


def _listed_as(spec: ModelSpec) -> str:
    return _named(spec.endpoint_name, spec.region)


def check_endpoint_allowed(
    spec: ModelSpec, owner: str, login: bool, environ: Mapping[str, str] = os.environ
) -> None:
    """Raise ``EndpointNotAllowed`` when ``owner`` may not add ``spec``'s endpoint."""
    if not may_call(spec, owner, login, environ):
        raise EndpointNotAllowed(endpoint=_listed_as(spec))
