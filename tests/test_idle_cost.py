"""What idle models cost (``chat_core.usage.idle``), figured from usage records and the
account's listing, checked to the cent: pure functions of both, so the listing is
built here as ``discovery.list_endpoints`` returns it (tests/test_scaling.py reads one
from the local endpoint server)."""

from datetime import UTC, datetime

from chat_core.models.discovery import AccountEndpoint, Component, Detection, Listing, Serverless
from chat_core.usage.idle import idle_costs, idle_hours
from chat_core.usage.records import Usage
from chat_core.usage.report import Period, report

PRICES = {"ml.g5.2xlarge": 2.0, "ml.g4dn.xlarge": 0.5}
TGI = Detection("tgi", "test")


def at(hour: int, minute: int = 0, second: int = 0) -> float:
    return datetime(2026, 12, 1, hour, minute, second, tzinfo=UTC).timestamp()


def used(endpoint: str, component: str | None, sent: float, ended: float, owner: str = "ana") -> Usage:
    return Usage(owner, f"k{sent}", ended, "m", endpoint, 10, 10, ended - sent, component=component)


# From 00:30 to 10:30 UTC: ten hours, a half hour at each end.
PERIOD = Period(at(0, 30), at(10, 30))
LISTING = Listing(
    (
        AccountEndpoint(
            "shared",
            "InService",
            "ml.g5.2xlarge",
            4,
            Detection(None, "hosts inference components"),
            has_model=False,
            components=(
                Component("llama", "InService", 3, 3, TGI),
                Component("gemma", "InService", 1, 1, TGI),
                Component("asleep", "InService", 0, 0, TGI),
            ),
        ),
        AccountEndpoint("solo", "InService", "ml.g4dn.xlarge", 1, TGI, has_model=True),
        AccountEndpoint(
            "burst", "InService", "serverless", 0, TGI, has_model=True, serverless=Serverless(4096, 5)
        ),
        AccountEndpoint("odd", "InService", "ml.unpriced", 2, TGI, has_model=True),
    )
)
RECORDS = [
    used("shared", "llama", at(1, 10), at(1, 12)),
    used("shared", "llama", at(3, 59, 30), at(4, 0, 30), owner="bob"),  # touches hours 3 and 4
    used("solo", None, at(10, 10), at(10, 20)),  # in the hour under way
    used("shared", "gone", at(2), at(2, 1)),  # a component no longer listed: no row
]


def test_each_model_s_cost_now_and_its_idle_hours_this_period() -> None:
    # The last use is the later of the mark and the last record's end: llama's mark, solo's record.
    last_calls = {("shared", "llama"): at(5), ("solo", None): at(10, 10), ("gone", None): at(1)}
    rows = {(r.endpoint, r.component): r for r in idle_costs(LISTING, RECORDS, PERIOD, PRICES, last_calls)}
    assert list(rows) == [
        ("shared", "llama"),
        ("shared", "gemma"),
        ("shared", "asleep"),
        ("solo", None),
        ("burst", None),
        ("odd", None),
    ]
    figures = {
        key: (row.copies, row.instances, row.last_used, row.hourly_cost, row.idle_hours, row.idle_cost)
        for key, row in rows.items()
    }
    assert figures == {
        # 4 instances at $2: $8 an hour, shared 3:1 by copies; idle: all but hours 1, 3 and 4.
        ("shared", "llama"): (3, 4, at(5), 6.0, 7.0, 42.0),
        ("shared", "gemma"): (1, 4, None, 2.0, 10.0, 20.0),
        ("shared", "asleep"): (0, 4, None, 0.0, 10.0, 0.0),
        ("solo", None): (None, 1, at(10, 20), 0.5, 9.5, 4.75),
        ("burst", None): (None, 0, None, 0.0, 10.0, 0.0),
        ("odd", None): (None, 2, None, None, 10.0, None),
    }
    notes = {key: row.note.en if row.note else None for key, row in rows.items()}
    assert notes["burst", None].startswith("Serverless: billed per request")
    assert "INSTANCE_PRICES" in notes["odd", None] and notes["shared", "llama"] is None


def test_an_hour_is_idle_only_when_no_question_touched_it() -> None:
    hours = Period(at(0), at(3))
    assert idle_hours([], hours) == 3.0
    assert idle_hours([(at(0, 59, 59), at(1, 0, 1))], hours) == 1.0  # a second each side of 01:00
    assert idle_hours([(at(2, 30), at(2, 30))], hours) == 2.0
    assert idle_hours([(at(5), at(6))], hours) == 3.0  # after the period


def test_a_serverless_endpoint_s_usage_is_not_priced_by_the_hour() -> None:
    """The Usage page's and the usage command's cost, from the same listing."""
    records = [used("burst", None, at(1), at(1, 0, 30))]
    (cost,) = report(records, PERIOD, LISTING.instances.get, PRICES).costs
    assert (cost.instance_type, cost.instances, cost.hourly_price, cost.cost) == ("serverless", 0, None, None)
    assert cost.note and cost.note.en.startswith(
        "Serverless: billed per request's compute, nothing while idle"
    )


def test_a_model_created_during_the_period_is_idle_only_since_it_was_created() -> None:
    """A component (and an endpoint) made at 05:00 has no idle hours before then."""
    new = Listing(
        (
            AccountEndpoint(
                "fresh",
                "InService",
                "ml.g5.2xlarge",
                1,
                Detection(None, "hosts inference components"),
                has_model=False,
                components=(Component("llama", "InService", 1, 1, TGI, created=at(5)),),
                created=at(4),
            ),
            AccountEndpoint("late", "InService", "ml.g4dn.xlarge", 1, TGI, has_model=True, created=at(9, 45)),
        )
    )
    rows = {(row.endpoint, row.component): row for row in idle_costs(new, [], PERIOD, PRICES)}
    assert (rows["fresh", "llama"].idle_hours, rows["fresh", "llama"].idle_cost) == (5.5, 11.0)
    assert (rows["late", None].idle_hours, rows["late", None].idle_cost) == (0.75, 0.375)


def test_instances_serving_no_model_are_a_row_of_their_own_and_the_rows_add_up_to_the_endpoint() -> None:
    """Every component asleep while the endpoint keeps 2 instances (its managed scaling
    keeps a minimum): those instances' cost is shown, not lost; with copies, the copies
    share every instance."""

    def hosting(*copies: int) -> AccountEndpoint:
        parts = tuple(Component(f"c{n}", "InService", count, count, TGI) for n, count in enumerate(copies))
        none = Detection(None, "hosts inference components")
        return AccountEndpoint(
            "kept", "InService", "ml.g5.2xlarge", 2, none, has_model=False, components=parts
        )

    for copies in ((0, 0), (1, 0), (2, 1)):
        rows = idle_costs(Listing((hosting(*copies),)), [], PERIOD, PRICES)
        assert sum(row.hourly_cost or 0.0 for row in rows) == 2 * PRICES["ml.g5.2xlarge"], copies
    (unserved,) = [
        row for row in idle_costs(Listing((hosting(0, 0),)), [], PERIOD, PRICES) if not row.component
    ]
    assert (unserved.hourly_cost, unserved.idle_hours, unserved.idle_cost) == (4.0, 10.0, 40.0)
    assert unserved.note and unserved.note.en.startswith("Instances serving no model")
