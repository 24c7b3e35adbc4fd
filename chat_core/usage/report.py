"""Usage over a period, per model and per user, and what the endpoints cost.

Cost: SageMaker bills an endpoint's instances by the hour while it is in
service, answering or idle, so an endpoint's cost over a period is its
instances' hours at their hourly price (``prices``), counted as if it was in
service the whole period.  A user's share of it is the part of those
instance-seconds their answers took (their generation seconds on the endpoint
over its instance-seconds in the period), and the share's cost that part of the
endpoint's cost.  Answers generated at once on one instance (continuous
batching) each count their whole time, so shares are an upper bound and may add
up to more than the instances were busy.  The bundled models cost nothing.
Summaries and indexing are counted as answers are, in rows of their own kind.

Per day (UTC), for the charts: the tokens and questions of each model, and what
each endpoint's instances cost that day (its hours in the period that day).

Who sees what: a user sees their own usage; the admins the operator names
(``CHAT_ADMINS``) may see everyone's.  ``visible_usage`` decides it, here rather
than in a page, so no page can show more.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from chat_core.access import is_admin
from chat_core.conversations.store import Store
from chat_core.errors import ChatError
from chat_core.i18n import Message, Text
from chat_core.local import embedding as local_embedding
from chat_core.models.catalog import LOCAL_ENDPOINT
from chat_core.models.discovery import SERVERLESS_TYPE
from chat_core.usage.records import Usage

# The instance type and count serving an endpoint, by its name; None when unknown.
Instances = Callable[[str], tuple[str, int] | None]
BUNDLED_ENDPOINTS = (LOCAL_ENDPOINT, local_embedding.ENDPOINT)
DAY = 86_400.0  # seconds


class NotAnAdmin(ChatError):
    en = "Only admins (CHAT_ADMINS) see every user's usage; here is your own."
    ko = "모든 사용자의 사용량은 관리자(CHAT_ADMINS)만 볼 수 있습니다. 내 사용량을 보여 드립니다."


class InvalidPeriod(ChatError):
    en = "The period starts on {day}, after today ({today}, UTC): pick a day up to today."
    ko = "기간이 오늘({today}, UTC) 이후인 {day}에 시작합니다. 오늘까지의 날짜를 고르세요."


BUNDLED = Message("Bundled model: no instance to pay for.", "내장 모델: 비용을 낼 인스턴스가 없습니다.")
UNKNOWN_INSTANCE = Message("Instance type unknown.", "인스턴스 유형을 모릅니다.")
SERVERLESS = Message(
    "Serverless: billed per request's compute, nothing while idle; the first call after a while "
    "waits for a cold start.",
    "서버리스: 요청마다 쓴 연산만큼 과금되고 유휴 시간에는 비용이 없습니다. 한동안 호출이 없으면 "
    "첫 호출은 콜드 스타트를 기다립니다.",
)
NO_PRICE = Message(
    "No price for {instance_type}: set it in INSTANCE_PRICES.",
    "{instance_type}의 가격이 없습니다. INSTANCE_PRICES에 설정하세요.",
)


@dataclass(frozen=True)
class Period:
    since: float  # seconds since the epoch
    until: float

    @property
    def hours(self) -> float:
        return (self.until - self.since) / 3600

    @property
    def days(self) -> list[date]:
        """Each day (UTC) the period touches, first to last."""
        first, last = (datetime.fromtimestamp(at, UTC).date() for at in (self.since, self.until))
        return [first + timedelta(days=number) for number in range((last - first).days + 1)]


def period_since(day: date | None, now: float) -> Period:
    """From the start of ``day`` (UTC, as AWS bills; None: the current month's first
    day) to ``now``."""
    today = datetime.fromtimestamp(now, UTC).date()
    day = day or today.replace(day=1)
    if day > today:
        raise InvalidPeriod(day=day, today=today)
    return Period(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp(), now)


@dataclass(frozen=True)
class Totals:
    owner: str | None  # None: totals of every user shown
    kind: str  # usage.records.KINDS
    model: str
    endpoint: str
    # Answers generated (a question compared across three models counts three times),
    # summaries made, or documents indexed.
    count: int
    calls: int  # model calls
    input_tokens: int | None  # None for indexing, which counts pages instead
    output_tokens: int | None
    pages: int | None  # indexed; None for answers and summaries
    passages: int | None
    seconds: float  # generation seconds


@dataclass(frozen=True)
class Day:
    day: str  # YYYY-MM-DD, UTC
    model: str
    questions: int
    tokens: int  # input and output, of answers and summaries


@dataclass(frozen=True)
class DayCost:
    day: str
    endpoint: str
    cost: float  # of the endpoint's instances that day (of the period); endpoints without a price left out


@dataclass(frozen=True)
class EndpointCost:
    endpoint: str
    instance_type: str | None
    instances: int
    hourly_price: float | None  # of one instance, in US dollars
    cost: float | None  # over the period; None when the instance type or its price is unknown
    note: Text | None = None  # why there is no cost, or none to pay


@dataclass(frozen=True)
class Share:
    owner: str
    endpoint: str
    seconds: float  # the owner's generation seconds on the endpoint
    share: float | None  # of the endpoint's instance-seconds in the period; None when unknown
    cost: float | None


@dataclass(frozen=True)
class Report:
    period: Period
    models: list[Totals]  # per model and endpoint, every user shown together
    users: list[Totals]  # per user, model and endpoint: only in an admin's view of everyone
    costs: list[EndpointCost]
    shares: list[Share]
    days: list[Day]  # per day and model
    daily_costs: list[DayCost]  # per day and endpoint


def visible_usage(
    store: Store, viewer: str, period: Period, everyone: bool = False, environ: Mapping[str, str] = os.environ
) -> list[Usage]:
    """The viewer's usage over ``period``, or with ``everyone`` every user's, which
    only admins may see."""
    if everyone and not is_admin(viewer, environ):
        raise NotAnAdmin()
    return store.usage(period.since, period.until, None if everyone else viewer)


def report(
    records: list[Usage],
    period: Period,
    instances: Instances,
    prices: Mapping[str, float],
    by_user: bool = False,
) -> Report:
    """Totals, costs and shares of ``records`` over ``period``; ``by_user`` adds each user's totals."""
    costs = {endpoint: _cost(endpoint, period, instances, prices) for endpoint in _unique(records)}
    seconds: dict[tuple[str, str], float] = {}
    for usage in records:
        seconds[usage.owner, usage.endpoint] = seconds.get((usage.owner, usage.endpoint), 0.0) + usage.seconds
    shares = [_share(owner, costs[endpoint], spent, period) for (owner, endpoint), spent in seconds.items()]
    return Report(
        period=period,
        models=_totals(records, by_user=False),
        users=_totals(records, by_user=True) if by_user else [],
        costs=list(costs.values()),
        shares=shares,
        days=_days(records),
        daily_costs=_daily_costs(list(costs.values()), period),
    )


def _unique(records: Iterable[Usage]) -> list[str]:
    return list(dict.fromkeys(usage.endpoint for usage in records))


def _totals(records: list[Usage], by_user: bool) -> list[Totals]:
    groups: dict[tuple[str | None, str, str, str], list[Usage]] = {}
    for usage in records:
        key = (usage.owner if by_user else None, usage.kind, usage.model, usage.endpoint)
        groups.setdefault(key, []).append(usage)
    return [
        Totals(
            owner=owner,
            kind=kind,
            model=model,
            endpoint=endpoint,
            count=len(group),
            calls=sum(usage.calls for usage in group),
            input_tokens=None if indexing else sum(usage.input_tokens for usage in group),
            output_tokens=None if indexing else sum(usage.output_tokens for usage in group),
            pages=sum(usage.pages for usage in group) if indexing else None,
            passages=sum(usage.passages for usage in group) if indexing else None,
            seconds=sum(usage.seconds for usage in group),
        )
        for (owner, kind, model, endpoint), group in groups.items()
        for indexing in [kind == "indexing"]
    ]


def _day(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).date().isoformat()


def _days(records: list[Usage]) -> list[Day]:
    """Each model's questions and tokens per day; indexing, which has no tokens, left out."""
    days: dict[tuple[str, str], Day] = {}
    for usage in sorted(records, key=lambda usage: (_day(usage.at), usage.model)):
        if usage.kind == "indexing":
            continue
        key = (_day(usage.at), usage.model)
        day = days.get(key, Day(*key, questions=0, tokens=0))
        days[key] = Day(
            *key,
            questions=day.questions + (usage.kind == "answer"),
            tokens=day.tokens + usage.input_tokens + usage.output_tokens,
        )
    return list(days.values())


def _daily_costs(costs: list[EndpointCost], period: Period) -> list[DayCost]:
    """Each priced endpoint's cost on each day of the period: its part of the day's hours."""
    priced = [
        (cost.endpoint, (cost.hourly_price or 0.0) * cost.instances)
        for cost in costs
        if cost.hourly_price is not None  # the bundled models' nothing is not drawn
    ]
    daily = []
    for day in period.days:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
        hours = (min(start + DAY, period.until) - max(start, period.since)) / 3600
        daily += [DayCost(day.isoformat(), endpoint, per_hour * hours) for endpoint, per_hour in priced]
    return daily


def _cost(endpoint: str, period: Period, instances: Instances, prices: Mapping[str, float]) -> EndpointCost:
    if endpoint in BUNDLED_ENDPOINTS:
        return EndpointCost(endpoint, None, 0, None, 0.0, BUNDLED.format())
    serving = instances(endpoint)
    if serving is None:
        return EndpointCost(endpoint, None, 0, None, None, UNKNOWN_INSTANCE.format())
    instance_type, count = serving
    if instance_type == SERVERLESS_TYPE:  # no instance-hours to count
        return EndpointCost(endpoint, instance_type, 0, None, None, SERVERLESS.format())
    price = prices.get(instance_type)
    if price is None:
        note = NO_PRICE.format(instance_type=instance_type)
        return EndpointCost(endpoint, instance_type, count, None, None, note)
    return EndpointCost(endpoint, instance_type, count, price, price * count * period.hours)


def _share(owner: str, cost: EndpointCost, seconds: float, period: Period) -> Share:
    instance_seconds = cost.instances * period.hours * 3600
    if not instance_seconds:  # the bundled model, or an endpoint whose instances are unknown
        return Share(owner, cost.endpoint, seconds, None, cost.cost)
    share = seconds / instance_seconds
    return Share(owner, cost.endpoint, seconds, share, None if cost.cost is None else share * cost.cost)
