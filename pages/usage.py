"""Usage and cost: the user's questions, summaries and indexing, their tokens and time
per model over a period, drawn per day, what each endpoint's instances cost over it,
and the user's share of that; admins (CHAT_ADMINS) may turn to every user's.
``usage.report`` decides who sees what.

Tables are ``st.table``s of figures as text, under a line naming whose they are:
``st.dataframe`` cuts headers and cells to "Ge…", and names in a column of their
own made a table wider than a phone's 390 px.  Each cell reads as formatted here,
"-" where there is nothing to show."""

import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from chat_core.access import is_admin
from chat_core.errors import ChatError
from chat_core.markdown import plain
from chat_core.usage.limits import Allowance, when
from chat_core.usage.prices import instance_prices
from chat_core.usage.records import KINDS
from chat_core.usage.report import period_since, report, visible_usage
from pages.common import conversation_store, language, owner, t
from pages.models import endpoint_instances
from pages.usage_endpoints import endpoints_section

lang = language()
store = conversation_store()
user = owner()
now = time.time()
today = datetime.fromtimestamp(now, UTC).date()

# Each limit's label (usage.limits.NAMES).
LIMITS = {
    "questions_per_minute": "Questions per minute",
    "tokens_per_day": "Tokens per day (UTC)",
    "tokens_per_month": "Tokens per month (UTC)",
}

st.title(t("Usage"))
try:
    standings = Allowance(conversation_store, user).standings()
except ChatError as error:  # shown in place of the limits: usage is shown all the same
    st.error(error.text(lang), icon=":material/error:")
    standings = []
if standings:  # the user's limits (none: none set, or an admin)
    st.subheader(t("Your limits"))
    cells = [
        [t(LIMITS[s.name]), f"{s.used:,}", f"{s.remaining:,}", f"{s.limit:,}", when(s.resets, now).text(lang)]
        for s in standings
    ]
    names = [t("Limit"), t("Used"), t("Remaining"), t("Allowed"), t("Resets")]
    st.table(pd.DataFrame(cells, columns=names), hide_index=True)
if is_admin(user):  # the account's models: what they cost idle, asleep or awake
    endpoints_section(store, user, now)
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
    st.info(t("Nothing in this period: no answers, summaries or indexing."))
    st.stop()


def whole(number: int) -> str:
    return f"{number:,}"


def dollars(amount: float) -> str:
    return f"${amount:,.2f}" if amount >= 0.01 or not amount else "<$0.01"


# Each figure shown: its label and how a value reads.
COLUMNS: dict[str, tuple[str, Callable[[Any], str]]] = {
    "kind": ("Use", lambda kind: t(KINDS[kind])),
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
}


def groups(rows: list[dict[str, Any]], names: tuple[str, ...]) -> dict[str, list[dict[str, Any]]]:
    """``rows`` by their ``names`` (user, model, endpoint), each group under one line of
    them, an endpoint named like its model left out: names stand above their figures
    rather than in a column, so that a table fits a phone's 390 px and no name is cut."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        said = dict.fromkeys(row[name] for name in names)
        line = " · ".join(plain(name) if n else f"**{plain(name)}**" for n, name in enumerate(said))
        grouped.setdefault(line, []).append(row)
    return grouped


def table(rows: list[dict[str, Any]], figures: tuple[str, ...], drop_empty: bool = False) -> None:
    """``figures`` of ``rows`` as text, "-" for a value that is None; with ``drop_empty``
    a figure no row has is left out (pages of answers, tokens of indexing)."""
    shown = [name for name in figures if not drop_empty or any(row[name] is not None for row in rows)]
    cells = [
        [COLUMNS[name][1](row[name]) if row[name] is not None else "-" for name in shown] for row in rows
    ]
    frame = pd.DataFrame(cells, columns=[t(COLUMNS[name][0]) for name in shown])
    styled = frame.style.format(lambda cell: "\\-" if cell == "-" else cell)  # alone, "-" is a list item
    st.table(styled, hide_index=True)


# A legend label, broken after a hyphen into lines of at most 24 characters: Vega draws
# a label on one line, and a long endpoint name is wider than a phone's chart.
LINES = r"split(trim(replace(datum.label, regexp('(.{1,24})(-|$)', 'g'), '$1$2\n')), '\n')"


def chart(rows: list[Any], days: list[date], value: str, by: str, label: str, legend: str) -> None:
    """A bar for each day of the period (a day without use has none), in parts by ``by``,
    named whole in a legend below."""
    frame = pd.DataFrame(vars(row) for row in rows)
    names = alt.Legend(orient="bottom", direction="vertical", labelLimit=0, labelExpr=LINES, title=legend)
    axis = alt.Axis(labelExpr="utcFormat(toDate(datum.value), '%b %d')", labelAngle=0, labelOverlap="greedy")
    every_day = alt.Scale(domain=[day.isoformat() for day in days])
    bars = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("day:O", title=t("Day (UTC)"), axis=axis, scale=every_day),
            y=alt.Y(f"{value}:Q", title=label),
            color=alt.Color(f"{by}:N", legend=names),
            tooltip=[
                alt.Tooltip("day:O", title=t("Day (UTC)")),
                alt.Tooltip(f"{by}:N", title=legend),
                alt.Tooltip(f"{value}:Q", title=label),
            ],
        )
    )
    st.altair_chart(bars, use_container_width=True)


st.subheader(t("Tokens per day"))
chart(found.days, period.days, "tokens", "model", t("Tokens"), t("Model"))
st.subheader(t("Questions per day"))
chart(found.days, period.days, "questions", "model", t("Questions"), t("Model"))
if found.daily_costs:
    st.subheader(t("Instance cost per day"))
    chart(found.daily_costs, period.days, "cost", "endpoint", t("US dollars"), t("Endpoint"))

USES = ("kind", "count", "input_tokens", "output_tokens", "pages", "seconds")
st.subheader(t("Per model"))
for line, rows in groups(list(map(vars, found.models)), ("model", "endpoint")).items():
    st.markdown(line)
    table(rows, USES, drop_empty=True)
if found.users:
    st.subheader(t("Per user"))
    for line, rows in groups(list(map(vars, found.users)), ("owner", "model", "endpoint")).items():
        st.markdown(line)
        table(rows, USES, drop_empty=True)

st.subheader(t("Instance cost over the period"))
for cost in found.costs:
    st.markdown(f"**{plain(cost.endpoint)}**")
    serving = {"instances": cost.instances if cost.instance_type else None}  # none known, or none
    table([vars(cost) | serving], ("instance_type", "instances", "hourly_price", "cost"))
    if cost.note:
        st.caption(cost.note.text(lang))
    shares = [vars(share) for share in found.shares if share.endpoint == cost.endpoint]
    for line, rows in groups(shares, ("owner",)).items() if everyone else [(t("Your share"), shares)]:
        st.markdown(line)
        percent = [row | {"share": None if row["share"] is None else row["share"] * 100} for row in rows]
        table(percent, ("seconds", "share", "cost"))
st.caption(
    t(
        "SageMaker bills each instance by the hour while its endpoint is in service, answering or "
        "idle: the cost is the instances' hours in the period at the prices in INSTANCE_PRICES, as if "
        "the endpoint served the whole period. A share is the part of those hours the answers took, "
        "and its cost that part of the endpoint's."
    )
)
