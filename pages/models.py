"""The models a user may pick: the catalog's, the SageMaker endpoints they add (kept for the
user) and the account's, listed at most once a minute; the picker; what instances serve
an endpoint, which its cost is counted from."""

import streamlit as st

from chat_core.access import check_endpoint_allowed, may_call, may_call_endpoint
from chat_core.aws import aws_environment
from chat_core.errors import ChatError
from chat_core.models.catalog import DEFAULT_MODEL, ModelSpec, custom_model, load_catalog, served_name
from chat_core.models.discovery import (
    AccountEndpoint,
    Component,
    Listing,
    ListingUnavailable,
    account_model,
    chat_targets,
    list_endpoints,
    listing_wanted,
)
from chat_core.models.handlers import PAYLOADS
from pages import state
from pages.common import language, login_configured, owner, t
from pages.preferences import SESSION, keep_endpoints


def offered_models() -> dict[str, ModelSpec]:
    """The models this user may pick, by id: the catalog's, the endpoints added this
    session and the account's that ``model_picker`` last offered."""
    custom: dict[str, ModelSpec] = st.session_state.setdefault(state.CUSTOM_MODELS, {})
    user, login = owner(), login_configured()
    offered = {id: spec for id, spec in (load_catalog() | custom).items() if may_call(spec, user, login)}
    return offered | st.session_state.get(state.ACCOUNT_MODELS, {})


def model_picker(key: str) -> ModelSpec:
    """The model select box, under ``key`` (``state.MODEL`` or ``state.PDF_MODEL``), with a
    form to add any SageMaker endpoint (kept for the user: ``preferences.keep_endpoints``)."""
    custom: dict[str, ModelSpec] = st.session_state.setdefault(state.CUSTOM_MODELS, {})
    user, login = owner(), login_configured()
    models = offered_models()
    with st.expander(t("Add a SageMaker endpoint")), st.form(f"add-endpoint-{key}", border=False):
        name = st.text_input(t("Endpoint name"), key=f"{key}-endpoint-name")
        region = st.text_input(t("Region"), placeholder=t("default region"), key=f"{key}-endpoint-region")
        component = st.text_input(
            t("Inference component"),
            placeholder=t("none: the endpoint's own model"),
            help=t("On an endpoint that hosts several models, the name of the one to call."),
            key=f"{key}-endpoint-component",
        )
        payload = st.selectbox(t("Payload format"), list(PAYLOADS), key=f"{key}-endpoint-payload")
        window = st.number_input(
            t("Context window (tokens)"), 512, 1_000_000, 4096, 512, key=f"{key}-context"
        )
        if st.form_submit_button(t("Add endpoint"), key=f"{key}-add-endpoint"):
            try:
                added = custom_model(name, payload, int(window), region, component)
                check_endpoint_allowed(added, user, login)
            except ChatError as error:
                st.error(t("Not added: {error}", error=error.text(language())))
            else:
                custom[added.id] = added
                keep_endpoints(custom)
                st.session_state[key] = added.id
                st.rerun()
    picker = st.container()  # drawn here, filled once the account's endpoints are known
    st.session_state[state.ACCOUNT_MODELS] = _account_models(key, user, login)
    models |= st.session_state[state.ACCOUNT_MODELS]
    if st.session_state.get(key) not in models:  # none yet, or one no longer offered
        st.session_state[key] = DEFAULT_MODEL
    chosen = picker.selectbox(
        t("Model"), list(models), format_func=lambda m: models[m].label, key=key, persist_state=SESSION
    )
    return models[chosen]


@st.cache_resource(ttl=60, show_spinner=False)
def _account_listing(aws_environment: tuple[tuple[str, str], ...]) -> Listing | ListingUnavailable:
    """The account's endpoints, listed at most once a minute for every user (the
    listing is made with the app's credentials; what each user is offered is
    filtered after): each endpoint costs four control-plane calls.  Kept as a
    resource because an error is kept too, and errors do not pickle."""
    try:
        return list_endpoints()
    except ListingUnavailable as error:
        return error


def _account_models(key: str, user: str, login: bool) -> dict[str, ModelSpec]:
    """The account's endpoints and components ``user`` may call, by id; one whose
    format is unknown joins them once the user names its format."""
    if not listing_wanted():
        return {}
    listing = _account_listing(aws_environment())
    if isinstance(listing, ListingUnavailable):
        st.info(listing.text(language()), icon=":material/cloud_off:")
        return {}
    if listing.notice:
        st.caption(listing.notice.text(language()))
    found = {}
    targets = [(e, c) for e, c in chat_targets(listing) if may_call_endpoint(e.name, None, user, login)]
    asked = sum(not (component or endpoint).detection.format for endpoint, component in targets)
    with st.expander(t("Endpoints of unknown format ({count})", count=asked)) if asked else st.container():
        for endpoint, component in targets:
            payload = (component or endpoint).detection.format or _asked_format(key, endpoint, component)
            if payload:
                spec = account_model(endpoint, component, payload)
                found[spec.id] = spec
    return found


def _asked_format(key: str, endpoint: AccountEndpoint, component: Component | None) -> str | None:
    """The payload format the user names for a model SageMaker says nothing about,
    remembered for the session (on every page)."""
    name = served_name(endpoint.name, component.name if component else None)
    named: dict[str, str] = st.session_state.setdefault(state.ACCOUNT_FORMATS, {})
    formats = list(PAYLOADS)
    payload = st.selectbox(
        t("Payload format of {name}", name=name),
        formats,
        index=formats.index(named[name]) if name in named else None,
        placeholder=t("unknown: choose one to use it"),
        key=f"{key}-format-{name}",
    )
    if payload:
        named[name] = payload
    return payload


def account_listing() -> Listing | ListingUnavailable | None:
    """The account's endpoints as the sidebar lists them, or why they are not; None
    when listing is off."""
    return _account_listing(aws_environment()) if listing_wanted() else None


def forget_listing() -> None:
    """List the account's endpoints afresh next time (an admin changed them)."""
    _account_listing.clear()


def endpoint_instances(endpoint: str) -> tuple[str, int] | None:
    """The instance type and count serving ``endpoint``, which its cost is counted
    from, as the account's endpoint listing has them; None when it is not listed."""
    listing = account_listing()
    return listing.instances.get(endpoint) if isinstance(listing, Listing) else None
