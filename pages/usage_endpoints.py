"""The Usage page's part for admins (CHAT_ADMINS): each of the account's endpoints and
inference components with its copies and instances now, its last question, what it
costs an hour now and what its idle hours cost this month (``usage.idle``), and a
button that puts a component to sleep or wakes it (``models.scaling``, which refuses
anyone else too)."""

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from chat_core.conversations.store import Store
from chat_core.errors import ChatError
from chat_core.markdown import plain
from chat_core.models.scaling import scale, sleep_settings
from chat_core.usage.idle import IdleCost, idle_costs
from chat_core.usage.prices import instance_prices
from chat_core.usage.report import period_since, visible_usage
from pages.common import language, t
from pages.models import account_listing, forget_listing


def endpoints_section(store: Store, user: str, now: float) -> None:
    """The section, under its subheader; nothing when the account is not listed.  Listed
    afresh on each run (admins only see it): copies change while a model wakes or sleeps."""
    forget_listing()
    listing = account_listing()
    if listing is None:
        return
    st.subheader(t("Endpoints and idle cost"))
    if isinstance(listing, ChatError):
        st.info(listing.text(language()), icon=":material/cloud_off:")
        return
    try:
        month = period_since(None, now)
        used = visible_usage(store, user, month, everyone=True)
        rows = idle_costs(listing, used, month, instance_prices(), store.last_calls())
    except ChatError as error:
        st.error(error.text(language()), icon=":material/error:")
        return
    for row in rows:
        named = f"**{plain(row.endpoint)}**" + (f" · {plain(row.component)}" if row.component else "")
        serverless = row.serverless
        if serverless:
            named += " · " + t(
                "serverless, {memory:,} MB, {concurrency} at once",
                memory=serverless.memory_mb,
                concurrency=serverless.max_concurrency,
            )
        st.markdown(named)
        st.table(pd.DataFrame([_cells(row)], columns=[t(label) for label in LABELS]), hide_index=True)
        if row.note:
            st.caption(row.note.text(language()))
        if row.component:
            _sleep_or_wake(user, row)
    st.caption(_auto_sleep())
    st.caption(
        t(
            "An idle hour is a clock hour (UTC) of this month, since the model was created, in which it "
            "answered nothing. The idle cost is an estimate: idle hours this month × what the model costs "
            "an hour now (its endpoint's instances at their price, shared among its components by their "
            "copies now), as if it had run all month as it does now; a model asleep costs nothing."
        )
    )


LABELS = (
    "Copies",
    "Instances",
    "Last question (UTC)",
    "Cost per hour now",
    "Idle hours this month",
    "Idle hours × cost per hour now",
)


def _cells(row: IdleCost) -> list[str]:
    copies = "-" if row.copies is None else f"{row.copies}"
    if row.desired is not None and row.desired != row.copies:
        copies += f" → {row.desired}"
    last = datetime.fromtimestamp(row.last_used, UTC).strftime("%Y-%m-%d %H:%M") if row.last_used else "-"
    return [
        copies,
        "-" if row.serverless else f"{row.instances:,}",
        last,
        _dollars(row.hourly_cost),
        f"{row.idle_hours:,.1f}",
        _dollars(row.idle_cost),
    ]


def _dollars(amount: float | None) -> str:
    if amount is None:
        return "-"
    return f"${amount:,.2f}" if amount >= 0.01 or not amount else "<$0.01"


def _sleep_or_wake(user: str, row: IdleCost) -> None:
    """A component asking for copies can be put to sleep; one asking for none, woken."""
    copies, label = (0, "Put to sleep") if row.desired else (1, "Wake")
    st.button(
        t(label),
        key=f"scale-{row.endpoint}/{row.component}",
        on_click=_scaled,
        args=(user, row.endpoint, row.component, copies),
        icon=":material/bedtime:" if copies == 0 else ":material/alarm:",
    )


def _scaled(user: str, endpoint: str, component: str, copies: int) -> None:
    try:
        scale(user, endpoint, component, copies)
    except ChatError as error:
        st.error(error.text(language()), icon=":material/error:")
        return
    message = "{name} is going to sleep." if copies == 0 else "{name} is waking up."
    st.toast(t(message, name=f"{endpoint}/{component}"), icon=":material/check:")


def _auto_sleep() -> str:
    """What the operator's auto-sleep setting does, or why it is not valid."""
    try:
        components, minutes = sleep_settings()
    except ChatError as error:
        return error.text(language())
    if not components:
        return t("No component is put to sleep by itself (SLEEP_COMPONENTS is not set).")
    names = ", ".join(f"{endpoint}/{component}" for endpoint, component in components)
    return t("Put to sleep after {minutes:g} idle minutes: {names}.", minutes=minutes, names=plain(names))
