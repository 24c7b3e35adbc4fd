"""Usage and cost: the user's questions, summaries and indexing, their tokens and time
per model over a period, drawn per day, what each endpoint's instances cost over it,
and the user's share of that; admins (CHAT_ADMINS) may turn to every user's.
``usage.report`` decides who sees what.

Tables are ``st.table``s of text: they wrap to any width (a phone's 390 px, where
``st.dataframe`` cuts headers and cells to "Ge…"), and each cell reads as
formatted here, "-" where there is nothing to show."""

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import streamlit as st

from chat_core.access import is_admin
from chat_core.errors import ChatError
from chat_core.markdown import plain
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


def whole(number: int) -> str:
    return f"{number:,}"


def dollars(amount: float) -> str:
    return f"${amount:,.2f}" if amount >= 0.01 or not amount else "<$0.01"


KINDS = {"answer": "Answers", "summary": "Summaries", "indexing": "Indexing"}
# Each column shown: its label and how a value reads; text is the users' and endpoints'
# names, shown as written (``plain``: a cell is Markdown).
COLUMNS: dict[str, tuple[str, Callable[[Any], str]]] = {
    "owner": ("User", plain),
    "kind": ("Use", lambda kind: t(KINDS[kind])),
    "model": ("Model", plain),
    "endpoint": ("Endpoint", plain),
    "count": ("Count", whole),
    "input_tokens": ("Input tokens", whole),
    "output_tokens": ("Output tokens", whole),
    "pages": ("Pages", whole),
    "seconds": ("Generation seconds", "{:,.1f}".format),
    "instance_type": ("Instance type", plain),
    "instances": ("Instances", whole),
    "hourly_price": ("Price per hour", dollars),
    "cost": ("Cost", dollars),
    "share": ("Share of instance time", "{:.4f}%".format),
    "note": ("Note", plain),
}
TEXT = ("owner", "model", "endpoint", "instance_type", "note")


def table(rows: list[dict[str, Any]], leave_out: tuple[str, ...] = ()) -> None:
    """``rows``' known columns as text, "-" for a value that is None."""
    shown = [name for name in COLUMNS if name in rows[0] and name not in leave_out]
    cells = [
        [COLUMNS[name][1](row[name]) if row[name] is not None else "-" for name in shown] for row in rows
    ]
    frame = pd.DataFrame(cells, columns=[t(COLUMNS[name][0]) for name in shown])
    # Names break anywhere rather than widen the table past a phone's screen; figures never break.
    words = [t(COLUMNS[name][0]) for name in shown if name in TEXT]
    style = (
        frame.style.set_properties(**{"white-space": "nowrap"})
        .set_properties(subset=words, **{"white-space": "normal", "overflow-wrap": "anywhere"})
        .format(lambda cell: "\\-" if cell == "-" else cell)  # alone, "-" is a Markdown list item
    )
    st.table(style, hide_index=True)


def chart(rows: list[Any], value: str, by: str, label: str) -> None:
    """A bar a day, in parts by ``by`` (a column of ``COLUMNS``), ``value`` read as ``label``."""
    names = {"day": t("Day (UTC)"), by: t(COLUMNS[by][0]), value: label}
    frame = pd.DataFrame(vars(row) for row in rows).rename(columns=names)
    st.bar_chart(frame, x=names["day"], y=label, color=names[by], x_label="")


st.subheader(t("Tokens per day"))
chart(found.days, "tokens", "model", t("Tokens"))
st.subheader(t("Questions per day"))
chart(found.days, "questions", "model", t("Questions"))
if found.daily_costs:
    st.subheader(t("Instance cost per day"))
    chart(found.daily_costs, "cost", "endpoint", t("US dollars"))

st.subheader(t("Per model"))
table([vars(totals) for totals in found.models], leave_out=("owner",))
if found.users:
    st.subheader(t("Per user"))
    table([vars(totals) for totals in found.users])

st.subheader(t("Instance cost over the period"))
table([vars(cost) | {"note": cost.note.text(lang) if cost.note else None} for cost in found.costs])
shares = [
    vars(share) | {"share": None if share.share is None else share.share * 100} for share in found.shares
]
table(shares, leave_out=() if everyone else ("owner",))
st.caption(
    t(
        "SageMaker bills each instance by the hour while its endpoint is in service, answering or "
        "idle: the cost is the instances' hours in the period at the prices in INSTANCE_PRICES, as if "
        "the endpoint served the whole period. A share is the part of those hours the answers took, "
        "and its cost that part of the endpoint's."
    )
)
