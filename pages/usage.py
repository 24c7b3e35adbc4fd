"""Usage and cost: the user's questions, tokens and generation time per model over a
period, what each endpoint's instances cost over it, and the user's share of that;
admins (CHAT_ADMINS) may turn to every user's.  ``usage.report`` decides who sees what."""

import time
from datetime import UTC, datetime
from typing import Any

import streamlit as st

from chat_core.access import is_admin
from chat_core.errors import ChatError
from chat_core.usage.prices import instance_prices
from chat_core.usage.report import period_since, report, visible_usage
from pages.common import conversation_store, language, owner, t
from pages.models import endpoint_instances

lang = language()
store = conversation_store()
user = owner()
now = time.time()
today = datetime.fromtimestamp(now, UTC).date()

st.title(t("Usage"))
since = st.date_input(t("From (UTC)"), today.replace(day=1), max_value=today, key="usage-since")
everyone = is_admin(user) and st.toggle(t("Every user's usage"), key="usage-everyone")
try:
    period = period_since(since, now)
    found = report(
        visible_usage(store, user, period, everyone),
        period,
        endpoint_instances,
        instance_prices(),
        by_user=everyone,
    )
except ChatError as error:
    st.error(error.text(lang), icon=":material/error:")
    st.stop()
st.caption(t("{hours:,.1f} hours, to now", hours=period.hours))
if not found.models:
    st.info(t("No answers in this period."))
    st.stop()

COLUMNS = {
    "owner": st.column_config.TextColumn(t("User")),
    "model": st.column_config.TextColumn(t("Model")),
    "endpoint": st.column_config.TextColumn(t("Endpoint")),
    "questions": st.column_config.NumberColumn(t("Questions")),
    "input_tokens": st.column_config.NumberColumn(t("Input tokens")),
    "output_tokens": st.column_config.NumberColumn(t("Output tokens")),
    "seconds": st.column_config.NumberColumn(t("Generation seconds"), format="%.1f"),
    "instance_type": st.column_config.TextColumn(t("Instance type")),
    "instances": st.column_config.NumberColumn(t("Instances")),
    "hourly_price": st.column_config.NumberColumn(t("Price per hour"), format="$%.2f"),
    "cost": st.column_config.NumberColumn(t("Cost"), format="$%.2f"),
    "share": st.column_config.NumberColumn(t("Share of instance time"), format="%.4f%%"),
    "note": st.column_config.TextColumn(t("Note")),
}


def table(rows: list[dict[str, Any]], key: str, leave_out: tuple[str, ...] = ()) -> None:
    shown = [{name: value for name, value in row.items() if name not in leave_out} for row in rows]
    st.dataframe(shown, column_config=COLUMNS, hide_index=True, key=key)


st.subheader(t("Per model"))
table([vars(totals) for totals in found.models], "usage-models", leave_out=("owner",))
if found.users:
    st.subheader(t("Per user"))
    table([vars(totals) for totals in found.users], "usage-users")

st.subheader(t("Instance cost over the period"))
table(
    [vars(cost) | {"note": cost.note.text(lang) if cost.note else ""} for cost in found.costs], "usage-costs"
)
shares = [
    vars(share) | {"share": None if share.share is None else share.share * 100} for share in found.shares
]
table(shares, "usage-shares", leave_out=() if everyone else ("owner",))
st.caption(
    t(
        "SageMaker bills each instance by the hour while its endpoint is in service, answering or "
        "idle: the cost is the instances' hours in the period at the prices in INSTANCE_PRICES, as if "
        "the endpoint served the whole period. A share is the part of those hours the answers took, "
        "and its cost that part of the endpoint's."
    )
)
