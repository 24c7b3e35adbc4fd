"""The hourly price of each SageMaker instance type, which endpoint costs are counted in.

SageMaker bills a real-time endpoint per instance-hour while it is in service,
answering or idle.  The price depends on the region and the account's terms
(Savings Plans, private pricing), which the app cannot know, so the operator
sets it: ``INSTANCE_PRICES="ml.g5.2xlarge=1.52,ml.g5.12xlarge=7.09"`` (US
dollars an hour), over ``EXAMPLE_PRICES``.  Those are examples, not promises:
on-demand real-time inference in us-east-1 as remembered, not checked against
AWS's price list (which this project's machines cannot reach).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from chat_core.errors import ChatError

EXAMPLE_PRICES: dict[str, float] = {
    "ml.g4dn.xlarge": 0.74,
    "ml.g5.xlarge": 1.41,
    "ml.g5.2xlarge": 1.52,
    "ml.g5.12xlarge": 7.09,
    "ml.g5.48xlarge": 20.36,
    "ml.p4d.24xlarge": 37.69,
}


class InvalidPrices(ChatError):
    en = (
        "INSTANCE_PRICES has {entry!r}: write each price as TYPE=DOLLARS_AN_HOUR, "
        "such as ml.g5.2xlarge=1.52, separated by commas."
    )
    ko = (
        "INSTANCE_PRICES에 {entry!r}가 있습니다. 가격은 ml.g5.2xlarge=1.52처럼 "
        "유형=시간당_달러로 쓰고 쉼표로 구분하세요."
    )


def instance_prices(environ: Mapping[str, str] = os.environ) -> dict[str, float]:
    """``EXAMPLE_PRICES`` with the operator's ``INSTANCE_PRICES`` over them."""
    prices = dict(EXAMPLE_PRICES)
    for entry in filter(None, (part.strip() for part in environ.get("INSTANCE_PRICES", "").split(","))):
        instance_type, _, text = (part.strip() for part in entry.partition("="))
        try:
            price = float(text)
        except ValueError:
            price = math.nan
        if not instance_type or not (math.isfinite(price) and price >= 0):
            raise InvalidPrices(entry=entry)
        prices[instance_type] = price
    return prices
