"""What the account's models cost while nobody asks them anything, for admins.

Per endpoint, and per inference component on an endpoint that hosts several: the
copies and instances serving now, when it was last asked (the later of its last call
marked, ``Store.last_calls``, and its last usage record's end), what its instances
cost an hour now and what this month's idle hours cost.

- **A model's cost per hour now** is its endpoint's instances now at their hourly
  price (``prices``).  An endpoint's instances are shared by its components in
  proportion to their copies now: a component with 2 of the endpoint's 4 copies
  costs half its instances, whatever instances those copies sit on (SageMaker bills
  the instances, not the copies).  A component asleep (no copies) costs nothing;
  instances running while no component has a copy (a managed scaling minimum above
  0, or being released) are a row of their own, "serving no model", so the rows of
  an endpoint always add up to its instances' cost.  A serverless endpoint is billed
  per request's compute, so it costs nothing an hour while idle.
- **An idle hour** is a clock hour (UTC) of the period, from the model's creation on
  (``CreationTime``: a model made today has no idle hours before), in which it
  answered nothing: no usage record's span, from its question sent to its answer's
  end (``Usage.at - seconds`` to ``Usage.at``), touches it.  The hour under way, and
  the hour it was created in, count by their part in the period.  Answers,
  summaries and indexing all count as use.
- **The idle cost** is an estimate, labelled as one: the idle hours times what the
  model costs an hour *now*.  No history of copy counts exists (the team's
  autoscaling changes them too), so a model asleep for weeks and woken a minute ago
  shows all those hours at its cost now, and one just put to sleep shows none.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from chat_core.i18n import Message, Text
from chat_core.models.discovery import AccountEndpoint, Component, Listing, Serverless
from chat_core.usage.records import Usage
from chat_core.usage.report import NO_PRICE, SERVERLESS, Period

HOUR = 3600.0
UNSERVED = Message(
    "Instances serving no model: no component has a copy, yet the endpoint keeps {instances} "
    "(its managed instance scaling's minimum, or instances being released).",
    "모델을 제공하지 않는 인스턴스: 복사본이 있는 컴포넌트가 없는데도 엔드포인트가 {instances}개를 "
    "유지합니다(관리형 인스턴스 스케일링의 최솟값이거나 해제 중인 인스턴스).",
)


@dataclass(frozen=True)
class IdleCost:
    endpoint: str
    component: str | None  # None: the endpoint's own model
    instance_type: str
    instances: int  # the endpoint's, now
    copies: int | None  # the component's serving now; None for an endpoint's own model
    desired: int | None  # the component's asked for: more than ``copies`` while it wakes
    serverless: Serverless | None
    last_used: float | None  # its last call marked or answer ended, seconds since the epoch
    hourly_cost: float | None  # now, in US dollars; None when the instance type has no price
    idle_hours: float
    idle_cost: float | None
    note: Text | None = None


def idle_costs(
    listing: Listing,
    records: Iterable[Usage],
    period: Period,
    prices: Mapping[str, float],
    last_calls: Mapping[tuple[str, str | None], float] | None = None,
) -> list[IdleCost]:
    """Each listed model's figures over ``period`` (this month, on the Usage page) from
    the usage ``records`` of every user in it; its last use is the later of its mark in
    ``last_calls`` (``Store.last_calls``: every call to it, whenever sent) and the end
    of its last record."""
    spans: dict[tuple[str, str | None], list[tuple[float, float]]] = {}
    for usage in records:
        spans.setdefault((usage.endpoint, usage.component), []).append((usage.at - usage.seconds, usage.at))
    found = []
    for endpoint in listing.endpoints:
        models: list[Component | None] = [None] if endpoint.has_model else []
        for model in [*models, *endpoint.components]:
            key = (endpoint.name, model.name if model else None)
            used = spans.get(key, [])
            moments = [ended for _, ended in used]
            if key in (last_calls or {}):
                moments.append(last_calls[key])
            last = max(moments, default=None)
            found.append(_idle(endpoint, model, used, period, prices, last))
        if _unserved(endpoint):
            found.append(
                _idle(
                    endpoint,
                    None,
                    [],
                    period,
                    prices,
                    None,
                    UNSERVED.format(instances=endpoint.instance_count),
                )
            )
    return found


def _unserved(endpoint: AccountEndpoint) -> bool:
    """Whether ``endpoint`` hosts components, none with a copy, on instances still running."""
    return (
        not endpoint.has_model
        and endpoint.instance_count > 0
        and not any(part.copies for part in endpoint.components)
    )


def _idle(
    endpoint: AccountEndpoint,
    component: Component | None,
    used: list[tuple[float, float]],
    period: Period,
    prices: Mapping[str, float],
    last_used: float | None = None,
    note: Text | None = None,
) -> IdleCost:
    created = (component.created if component else None) or endpoint.created or period.since
    hours = idle_hours(used, Period(max(period.since, created), period.until))
    hourly, why = _hourly(endpoint, component, prices)
    return IdleCost(
        endpoint=endpoint.name,
        component=component.name if component else None,
        instance_type=endpoint.instance_type,
        instances=endpoint.instance_count,
        copies=component.copies if component else None,
        desired=component.desired if component else None,
        serverless=endpoint.serverless,
        last_used=last_used,
        hourly_cost=hourly,
        idle_hours=hours,
        idle_cost=None if hourly is None else hourly * hours,
        note=why or note,
    )


def _hourly(
    endpoint: AccountEndpoint, component: Component | None, prices: Mapping[str, float]
) -> tuple[float | None, Text | None]:
    """The model's part of its endpoint's instances' price an hour (all of it for an
    endpoint's own model and for instances serving no model), and why there is none."""
    if endpoint.serverless:
        return 0.0, SERVERLESS.format()
    price = prices.get(endpoint.instance_type)
    if price is None:
        return None, NO_PRICE.format(instance_type=endpoint.instance_type)
    share = 1.0
    if component:
        copies = sum(part.copies for part in endpoint.components)
        share = component.copies / copies if copies else 0.0
    return price * endpoint.instance_count * share, None


def idle_hours(used: Iterable[tuple[float, float]], period: Period) -> float:
    """The clock hours (UTC) of ``period`` that no span of ``used`` touches (each span
    from a question sent to its answer's end); a part hour at either end counts by its
    part in the period."""
    first = math.floor(period.since / HOUR)
    busy = set()
    for sent, ended in used:
        busy.update(range(math.floor(sent / HOUR), math.floor(ended / HOUR) + 1))
    idle = 0.0
    for hour in range(first, math.ceil(period.until / HOUR)):
        if hour not in busy:
            start, end = max(hour * HOUR, period.since), min((hour + 1) * HOUR, period.until)
            idle += max(end - start, 0.0) / HOUR
    return idle
