"""Conversations in one DynamoDB table, for app replicas that share them.

Key design (one table, on-demand billing):

- A conversation is the item ``PK=USER#<owner>``, ``SK=CONV#<id>``: reading it
  needs the owner, so another user's id finds nothing.  Its ``LSI1SK`` is
  ``<updated_at>#<id>``; the local secondary index ``by-updated`` lists a
  user's conversations newest first with one query.
- Its messages are items ``PK=CONV#<id>``, ``SK=MSG#<key>``, the key a
  nanosecond time that only grows within a process, plus a random suffix
  (``store.next_key``): messages keep the order they were written in however
  fast they come, and none overwrites another (the original keyed them on a
  second-precision timestamp).
- A message is written in one transaction with the bump of its conversation's
  ``updated_at``, on condition that the conversation exists under the writer's
  key and is not being deleted; an answer is one item that names its question
  (``answers``), so a pair is never half written.
- Deleting marks the conversation ``deleting`` first (no message can be added
  from then on), deletes its messages, then the conversation: a delete racing an
  append leaves nothing, and one cut short leaves the conversation, marked, to be
  deleted again, never messages that nothing leads to.
- An answer's usage record (``usage.records``) is the item ``PK=USAGE#<month>``
  (``YYYY-MM``, UTC), ``SK=<owner>#<time>#<answer key>``, put in the answer's
  transaction and never deleted with its conversation.  One user's usage over a
  period is one query per month it spans (the key sorts by owner, then time);
  everyone's, for admins, is the month's whole partition: rare reads, where a
  user's own are frequent and should not read the team's.  Every answer of a
  month is written to one partition, far below its 1,000 writes a second; the
  table's local index caps a partition at 10 GB, some 30 million answers a month.
  A summary's or an indexing's record is the same item, put on its own.
- Feedback on an answer (``rating``, ``comment``, ``rated_at``) is set on its
  message item once the conversation is found under the owner's key, on
  condition that the message exists and is an answer: it can neither create an
  item nor touch another owner's.
- A user's preferences are the item ``PK=USER#<owner>``, ``SK=PREFERENCES``, one JSON
  string: it has no ``LSI1SK``, so the index of conversations never lists it.
- A user's limit counters (``usage.limits``) are items ``PK=LIMITS#<owner>``,
  ``SK=COUNT#<window>``, with what the window holds (``held``); an admission is one
  transaction that adds each charge to its counter on condition that it is below the
  charge's bound, and puts the reservation, ``SK=HOLD#<key>``, with its charges and
  expiry.  Settling deletes the reservation (on condition that it is there) in one
  transaction with the counters' corrections.  A counter's ``drop_at`` is when it may go
  (its window's end, plus the longest a reservation lives), a reservation's the latest of
  its counters'; ``create-table`` enables the table's TTL on ``drop_at``, so DynamoDB
  deletes them itself.  A counter made again after that (an answer settled, or a
  reservation given back, late) gets a ``drop_at`` too.
- The last call sent to each remote model (``models.scaling``) is the item ``PK=CALLS``,
  ``SK=<endpoint>/<component>``, updated on condition that its time is older: one
  partition, one small write per model call, read whole (one item per model).
- Lists are read consistently (the index is local, so it can be): the sidebar
  right after a write, and "Delete all", see every conversation written.

The client is ``aws.client``'s: region, endpoint (``AWS_ENDPOINT_URL_DYNAMODB``),
timeouts and retries as for every AWS call.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from chat_core import aws, i18n
from chat_core.conversations.store import (
    AppendOnlyMessages,
    Conversation,
    ConversationNotFound,
    Feedback,
    Hold,
    Message,
    StoreUnavailable,
    backend_errors,
    in_order,
    next_key,
    not_found,
    now,
    title_for,
)
from chat_core.i18n import Text
from chat_core.usage.records import Usage, usage_of

INDEX = "by-updated"
CALLS = "CALLS"  # the partition of the last model call marks, one item per model
# DynamoDB refuses a write that meets another transaction on the same item rather
# than wait, and botocore does not retry that: tried again this many times.
CONFLICT_ATTEMPTS = 5
T = TypeVar("T")
# DynamoDB's own ways of saying it is busy (aws.CODES has the common ones).
_BUSY = dict.fromkeys(
    ("ProvisionedThroughputExceededException", "RequestLimitExceeded", "TransactionConflictException"),
    aws.Failure.BUSY,
)
# The same, as a cancelled transaction's reasons.
_BUSY_REASONS = {"ThrottlingError", "ProvisionedThroughputExceeded", "TransactionConflict"}


def create_table(table: str, client: Any = None) -> None:
    """Create the table with the key design above, on-demand, and wait for it."""
    client = client or aws.client("dynamodb")
    client.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"} for name in ("PK", "SK", "LSI1SK")
        ],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        LocalSecondaryIndexes=[
            {
                "IndexName": INDEX,
                "KeySchema": [
                    {"AttributeName": "PK", "KeyType": "HASH"},
                    {"AttributeName": "LSI1SK", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    client.get_waiter("table_exists").wait(TableName=table)
    # DynamoDB deletes what limits no longer need (counters, reservations) past their drop_at.
    client.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "drop_at"}
    )


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float) -> dict[str, str]:
    return {"N": repr(value)}


def _sortable(at: float) -> str:
    """``at`` as text that sorts as the time does."""
    return f"{at:017.6f}"


def _updated_key(updated_at: float, conversation_id: str) -> str:
    return f"{_sortable(updated_at)}#{conversation_id}"


WHERE = i18n.Message("in DynamoDB table '{table}'", "DynamoDB 테이블 '{table}'")
MISSING = i18n.Message(
    "it does not exist: create it with `python -m chat_core create-table {table}`",
    "테이블이 없습니다. `python -m chat_core create-table {table}`로 만드세요",
)
TOO_LARGE = i18n.Message(
    "DynamoDB refused the item; a message can be at most 400 KB there",
    "DynamoDB가 항목을 거부했습니다. 그곳에서 메시지는 최대 400KB입니다",
)


class TableNotReady(StoreUnavailable):
    en = "DynamoDB table '{table}' is {status}; try again when it is ACTIVE."
    ko = "DynamoDB 테이블 '{table}'이 {status} 상태입니다. ACTIVE가 되면 다시 시도하세요."


@backend_errors(ClientError, BotoCoreError)
class DynamoDBStore(AppendOnlyMessages):
    def __init__(self, table: str) -> None:
        self.table = table
        self.where = WHERE.format(table=table)
        self._db = aws.client("dynamodb")
        status = self._db.describe_table(TableName=table)["Table"]["TableStatus"]
        if status not in ("ACTIVE", "UPDATING"):
            raise TableNotReady(table=table, status=status)

    def hint(self, error: Exception) -> Text:
        """The cause of a failure and what to do, by error code only: AWS's own texts
        may hold account ids, ARNs and URLs (they go to the log)."""
        if not isinstance(error, ClientError):
            return aws.reason(error, "dynamodb")
        if aws.code(error) == "ResourceNotFoundException":
            return MISSING.format(table=self.table)
        texts = [error.response["Error"].get("Message", "")]
        texts += [reason.get("Message", "") for reason in error.response.get("CancellationReasons", [])]
        if any("item size" in text.lower() for text in texts):
            return TOO_LARGE.format()
        busy = aws.Failure.BUSY if set(_reasons(error)) & _BUSY_REASONS else None
        return aws.reason(error, "dynamodb", _BUSY, busy)

    def _call(self, operation: str, **kwargs: Any) -> Any:
        return _retried(lambda: getattr(self._db, operation)(TableName=self.table, **kwargs))

    def create(self, owner: str, title: str, model: str, mode: str) -> Conversation:
        conversation = Conversation(uuid.uuid4().hex, owner, title_for(title), model, mode, now(), now())
        self._call(
            "put_item",
            Item={
                "PK": _s(f"USER#{owner}"),
                "SK": _s(f"CONV#{conversation.id}"),
                "LSI1SK": _s(_updated_key(conversation.updated_at, conversation.id)),
                "id": _s(conversation.id),
                "title": _s(conversation.title),
                "model": _s(model),
                "mode": _s(mode),
                "created_at": _n(conversation.created_at),
                "updated_at": _n(conversation.updated_at),
            },
        )
        return conversation

    def conversations(self, owner: str) -> list[Conversation]:
        items = self._query(
            IndexName=INDEX,
            KeyConditionExpression="PK = :owner",
            ExpressionAttributeValues={":owner": _s(f"USER#{owner}")},
            ScanIndexForward=False,
            ConsistentRead=True,
        )
        return [_conversation(owner, item) for item in items]

    def get(self, owner: str, conversation_id: str) -> Conversation:
        item = self._call("get_item", Key=_conversation_key(owner, conversation_id), ConsistentRead=True).get(
            "Item"
        )
        if item is None:
            raise not_found()
        return _conversation(owner, item)

    def messages(self, owner: str, conversation_id: str) -> list[Message]:
        self.get(owner, conversation_id)
        return in_order([_message(item) for item in self._messages(conversation_id)])

    def _update_own(self, owner: str, conversation_id: str, expression: str, values: dict[str, Any]) -> None:
        """Update the conversation on condition that it exists under the owner's key,
        so nothing is ever written to another's."""
        try:
            self._call("update_item", **_update(owner, conversation_id, expression, values))
        except ClientError as error:
            if aws.code(error) == "ConditionalCheckFailedException":
                raise not_found() from error
            raise

    def _append(self, owner: str, conversation_id: str, role: str, text: str, **extra: Any) -> str:
        """Put the message and bump the conversation's ``updated_at``, in one
        transaction on condition that the conversation is the owner's and not being
        deleted: a message is never written to a conversation that is going."""
        updated_at = now()
        key = next_key()
        item = {
            "PK": _s(f"CONV#{conversation_id}"),
            "SK": _s(f"MSG#{key}"),
            "role": _s(role),
            "text": _s(text) if text else {"NULL": True},  # DynamoDB keeps no empty strings
            "created_at": _n(updated_at),
            "stats": _s(json.dumps(extra.get("stats", {}))),
        }
        if extra.get("answers"):
            item["answers"] = _s(extra["answers"])
        writes = [{"Put": {"TableName": self.table, "Item": item}}]
        if role == "assistant" and (usage := usage_of(owner, key, updated_at, extra.get("stats", {}))):
            writes.append({"Put": {"TableName": self.table, "Item": _usage_item(usage)}})
        bump = _update(
            owner,
            conversation_id,
            "SET updated_at = :at, LSI1SK = :sort",
            {":at": _n(updated_at), ":sort": _s(_updated_key(updated_at, conversation_id))},
        )
        bump["ConditionExpression"] += " AND attribute_not_exists(deleting)"
        try:
            _retried(
                lambda: self._db.transact_write_items(
                    TransactItems=[{"Update": {"TableName": self.table, **bump}}, *writes]
                )
            )
        except ClientError as error:
            if _reasons(error)[:1] == ["ConditionalCheckFailed"]:
                raise not_found() from error
            raise
        return key

    def _annotate(self, owner: str, conversation_id: str, answer_key: str, feedback: Feedback | None) -> None:
        fields = {  # None: removed; an empty comment is no attribute, as an empty text
            "rating": _s(feedback.rating) if feedback and feedback.rating else None,
            "comment": _s(feedback.comment) if feedback and feedback.comment else None,
            "rated_at": _n(feedback.at) if feedback else None,
        }
        kept = {name: value for name, value in fields.items() if value}
        gone = [name for name, value in fields.items() if not value]
        expression = " ".join(
            part
            for part in (
                "SET " + ", ".join(f"#{name} = :{name}" for name in kept) if kept else "",
                "REMOVE " + ", ".join(f"#{name}" for name in gone) if gone else "",
            )
            if part
        )
        # The owner's check is a read: a conversation's id never passes to another
        # owner, and the update's condition keeps it from recreating a message that a
        # delete removed meanwhile.  (A transaction's ConditionCheck would need one
        # more IAM action, dynamodb:ConditionCheckItem, for no more safety.)
        self.get(owner, conversation_id)
        try:
            self._call(
                "update_item",
                Key={"PK": _s(f"CONV#{conversation_id}"), "SK": _s(f"MSG#{answer_key}")},
                UpdateExpression=expression,
                # COMMENT and ROLE are DynamoDB reserved words: every name goes through a placeholder.
                ExpressionAttributeNames={f"#{name}": name for name in [*fields, "role"]},
                ExpressionAttributeValues={f":{name}": value for name, value in kept.items()}
                | {":answer": _s("assistant")},
                ConditionExpression="attribute_exists(PK) AND #role = :answer",
            )
        except ClientError as error:
            if aws.code(error) == "ConditionalCheckFailedException":
                raise not_found() from error
            raise

    def rename(self, owner: str, conversation_id: str, title: str) -> None:
        self._update_own(owner, conversation_id, "SET title = :title", {":title": _s(title_for(title))})

    def delete(self, owner: str, conversation_id: str) -> None:
        # Marked first: no message can be added after (see _append), so the messages
        # listed next are all it will ever have.
        self._update_own(owner, conversation_id, "SET deleting = :yes", {":yes": {"BOOL": True}})
        for key in self._messages(conversation_id, ProjectionExpression="PK, SK"):
            self._call("delete_item", Key=key)
        self._call("delete_item", Key=_conversation_key(owner, conversation_id))

    def _messages(self, conversation_id: str, **options: Any) -> list[dict[str, Any]]:
        return self._query(
            KeyConditionExpression="PK = :conversation",
            ExpressionAttributeValues={":conversation": _s(f"CONV#{conversation_id}")},
            ConsistentRead=True,
            **options,
        )

    def _query(self, **query: Any) -> list[dict[str, Any]]:
        """Every page of a query."""
        items: list[dict[str, Any]] = []
        while True:
            page = self._call("query", **query)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                return items
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def delete_all(self, owner: str) -> None:
        for conversation in self.conversations(owner):
            with contextlib.suppress(ConversationNotFound):  # deleted meanwhile, in another tab
                self.delete(owner, conversation.id)

    def preferences(self, owner: str) -> dict[str, Any]:
        item = self._call("get_item", Key=_preferences_key(owner), ConsistentRead=True).get("Item")
        return json.loads(item["preferences"]["S"]) if item else {}

    def set_preferences(self, owner: str, preferences: dict[str, Any]) -> None:
        self._call("put_item", Item={**_preferences_key(owner), "preferences": _s(json.dumps(preferences))})

    def _record(self, usage: Usage) -> None:
        self._call("put_item", Item=_usage_item(usage))

    def usage(self, since: float, until: float, owner: str | None) -> list[Usage]:
        records = []
        for month in _months(since, until):
            items = self._query(**_usage_query(month, owner, since, until))
            # A month's partition holds more than the period: what is in it is kept.
            records += [usage for usage in map(_usage, items) if since <= usage.at <= until]
        return sorted(records, key=lambda usage: usage.key)

    def reserve(self, owner: str, hold: Hold) -> str | None:
        if refused := next((c.counter for c in hold.charges if c.below <= 0), None):
            return refused  # a counter not yet written would pass the condition below
        for expired in self._query(
            KeyConditionExpression="PK = :owner AND begins_with(SK, :hold)",
            FilterExpression="expires < :now",
            ExpressionAttributeValues={
                ":owner": _s(f"LIMITS#{owner}"),
                ":hold": _s("HOLD#"),
                ":now": _n(now()),
            },
            ConsistentRead=True,
        ):
            charges = json.loads(expired["charges"]["S"])
            # A hold written before holds had a drop_at lives no longer than its expiry.
            drop_at = float(expired.get("drop_at", expired["expires"])["N"])
            back = {c: -amount for c, amount in charges.items()}
            # Unless another replica gave it back meanwhile:
            self._settle(owner, expired["SK"]["S"], back, dict.fromkeys(back, drop_at))
        writes = [
            self._add(owner, charge.counter, charge.amount, charge.until)
            | {
                "UpdateExpression": "ADD held :amount SET drop_at = :until",
                "ConditionExpression": "attribute_not_exists(held) OR held < :below",
                "ExpressionAttributeValues": {
                    ":amount": _n(charge.amount),
                    ":below": _n(charge.below),
                    ":until": _n(int(charge.until)),
                },
            }
            for charge in hold.charges
        ]
        charges = json.dumps({charge.counter: charge.amount for charge in hold.charges})
        item = _limits_key(owner, f"HOLD#{hold.key}") | {
            "expires": _n(hold.expires),
            "charges": _s(charges),
            # Kept while any of its counters is, to be given back to them: then the TTL's.
            "drop_at": _n(int(max(charge.until for charge in hold.charges))),
        }
        try:
            self._transact([{"Update": write} for write in writes] + [{"Put": {"Item": item}}])
        except ClientError as error:
            reasons = _reasons(error)
            if "ConditionalCheckFailed" in reasons:
                return hold.charges[reasons.index("ConditionalCheckFailed")].counter
            raise
        return None

    def settle(self, owner: str, hold: Hold, used: dict[str, int]) -> None:
        reserved = {charge.counter: charge.amount for charge in hold.charges}
        until = {charge.counter: charge.until for charge in hold.charges}
        corrections = {counter: amount - reserved.get(counter, 0) for counter, amount in used.items()}
        if not self._settle(owner, f"HOLD#{hold.key}", corrections, until) and used:
            # It expired and was given back: what it used is added alone.
            self._transact([{"Update": self._add(owner, c, amount, until[c])} for c, amount in used.items()])

    def _settle(self, owner: str, hold: str, corrections: dict[str, int], until: dict[str, float]) -> bool:
        """Delete reservation ``hold`` and correct the counters (each kept ``until``, should
        it be made again), in one transaction; False (nothing done) when it is no longer there."""
        delete = {"Key": _limits_key(owner, hold), "ConditionExpression": "attribute_exists(PK)"}
        updates = [{"Update": self._add(owner, c, amount, until[c])} for c, amount in corrections.items()]
        try:
            self._transact([{"Delete": delete}, *updates])
        except ClientError as error:
            if _reasons(error)[:1] == ["ConditionalCheckFailed"]:
                return False
            raise
        return True

    def _add(self, owner: str, counter: str, amount: int, until: float) -> dict[str, Any]:
        """Add ``amount`` to a counter; one made by it (the TTL deleted it, its window over)
        is marked to go at ``until``, not kept for ever."""
        return {
            "Key": _limits_key(owner, f"COUNT#{counter}"),
            "UpdateExpression": "ADD held :amount SET drop_at = if_not_exists(drop_at, :until)",
            "ExpressionAttributeValues": {":amount": _n(amount), ":until": _n(int(until))},
        }

    def _transact(self, writes: list[dict[str, dict[str, Any]]]) -> None:
        items = [{kind: {"TableName": self.table, **write}} for one in writes for kind, write in one.items()]
        _retried(lambda: self._db.transact_write_items(TransactItems=items))

    def counters(self, owner: str, names: list[str]) -> dict[str, int]:
        found = {}
        for name in names:
            item = self._call("get_item", Key=_limits_key(owner, f"COUNT#{name}"), ConsistentRead=True)
            if "Item" in item:
                found[name] = int(item["Item"]["held"]["N"])
        return found

    def mark_call(self, endpoint: str, component: str | None, at: float) -> None:
        try:
            self._call(
                "update_item",
                Key={"PK": _s(CALLS), "SK": _s(f"{endpoint}/{component or ''}")},
                UpdateExpression="SET endpoint = :endpoint, component = :component, #at = :at",
                ConditionExpression="attribute_not_exists(#at) OR #at < :at",
                ExpressionAttributeNames={"#at": "at"},
                ExpressionAttributeValues={
                    ":endpoint": _s(endpoint),
                    ":component": _s(component or ""),
                    ":at": _n(at),
                },
            )
        except ClientError as error:
            if aws.code(error) != "ConditionalCheckFailedException":  # a later mark is there
                raise

    def last_calls(self) -> dict[tuple[str, str | None], float]:
        items = self._query(
            KeyConditionExpression="PK = :calls", ExpressionAttributeValues={":calls": _s(CALLS)}
        )
        return {
            (item["endpoint"]["S"], item["component"]["S"] or None): float(item["at"]["N"]) for item in items
        }


def _limits_key(owner: str, key: str) -> dict[str, Any]:
    return {"PK": _s(f"LIMITS#{owner}"), "SK": _s(key)}


def _preferences_key(owner: str) -> dict[str, Any]:
    return {"PK": _s(f"USER#{owner}"), "SK": _s("PREFERENCES")}


def _conversation_key(owner: str, conversation_id: str) -> dict[str, Any]:
    return {"PK": _s(f"USER#{owner}"), "SK": _s(f"CONV#{conversation_id}")}


def _update(owner: str, conversation_id: str, expression: str, values: dict[str, Any]) -> dict[str, Any]:
    """An update of the owner's conversation, on condition that it exists."""
    return {
        "Key": _conversation_key(owner, conversation_id),
        "UpdateExpression": expression,
        "ConditionExpression": "attribute_exists(PK)",
        "ExpressionAttributeValues": values,
    }


def _usage_query(month: str, owner: str | None, since: float, until: float) -> dict[str, Any]:
    """The query of one month's usage: everyone's, or the owner's from ``since`` to
    ``until``; read consistently, so that an answer just given is counted."""
    values = {":month": _s(f"USAGE#{month}")}
    if owner is None:
        return {
            "KeyConditionExpression": "PK = :month",
            "ExpressionAttributeValues": values,
            "ConsistentRead": True,
        }
    low, high = f"{owner}#{_sortable(since)}", f"{owner}#{_sortable(until)}#~"  # "~" after any key
    return {
        "KeyConditionExpression": "PK = :month AND SK BETWEEN :low AND :high",
        # An owner may contain "#": the exact owner, not every one that it prefixes.
        "FilterExpression": "#owner = :owner",
        "ExpressionAttributeNames": {"#owner": "owner"},
        "ExpressionAttributeValues": values | {":low": _s(low), ":high": _s(high), ":owner": _s(owner)},
        "ConsistentRead": True,
    }


def _month(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m")


def _months(since: float, until: float) -> list[str]:
    """The months (UTC) from ``since``'s to ``until``'s."""
    first, last = (datetime.fromtimestamp(at, UTC) for at in (since, until))
    months = range(first.year * 12 + first.month - 1, last.year * 12 + last.month)
    return [f"{month // 12}-{month % 12 + 1:02d}" for month in months]


def _usage_item(usage: Usage) -> dict[str, Any]:
    item = {
        "PK": _s(f"USAGE#{_month(usage.at)}"),
        "SK": _s(f"{usage.owner}#{_sortable(usage.at)}#{usage.key}"),
        "owner": _s(usage.owner),
        "key": _s(usage.key),
        "at": _n(usage.at),
        "model": _s(usage.model),
        "endpoint": _s(usage.endpoint),
        "input_tokens": _n(usage.input_tokens),
        "output_tokens": _n(usage.output_tokens),
        "seconds": _n(usage.seconds),
        "candidate": {"BOOL": usage.candidate},
        "kind": _s(usage.kind),
        "calls": _n(usage.calls),
        "pages": _n(usage.pages),
        "passages": _n(usage.passages),
    }
    if usage.component:
        item["component"] = _s(usage.component)
    return item


def _usage(item: dict[str, Any]) -> Usage:
    return Usage(
        owner=item["owner"]["S"],
        key=item["key"]["S"],
        at=float(item["at"]["N"]),
        model=item["model"]["S"],
        endpoint=item["endpoint"]["S"],
        input_tokens=int(item["input_tokens"]["N"]),
        output_tokens=int(item["output_tokens"]["N"]),
        seconds=float(item["seconds"]["N"]),
        component=item.get("component", {}).get("S"),
        candidate=item["candidate"]["BOOL"],
        # An answer's item written before summaries and indexing were recorded has none of these.
        kind=item.get("kind", {}).get("S", "answer"),
        calls=int(item.get("calls", {}).get("N", 1)),
        pages=int(item.get("pages", {}).get("N", 0)),
        passages=int(item.get("passages", {}).get("N", 0)),
    )


def _retried(call: Callable[[], T]) -> T:
    """``call``, tried again (after a short random wait) while it meets another transaction."""
    for attempt in range(1, CONFLICT_ATTEMPTS):
        try:
            return call()
        except ClientError as error:
            if not _conflicting(error):
                raise
        time.sleep(random.uniform(0, 0.02 * 2**attempt))
    return call()


def _reasons(error: ClientError) -> list[str]:
    """Why DynamoDB cancelled a transaction: a code for each of its items, in order."""
    return [reason.get("Code", "None") for reason in error.response.get("CancellationReasons", [])]


def _conflicting(error: ClientError) -> bool:
    """Whether a write was refused only because another transaction held its item."""
    code = aws.code(error)
    reasons = set(_reasons(error)) - {"None"}
    return code == "TransactionConflictException" or (
        code == "TransactionCanceledException" and reasons == {"TransactionConflict"}
    )


def _conversation(owner: str, item: dict[str, Any]) -> Conversation:
    return Conversation(
        id=item["id"]["S"],
        owner=owner,
        title=item["title"]["S"],
        model=item["model"]["S"],
        mode=item["mode"]["S"],
        created_at=float(Decimal(item["created_at"]["N"])),
        updated_at=float(Decimal(item["updated_at"]["N"])),
    )


def _message(item: dict[str, Any]) -> Message:
    return Message(
        key=item["SK"]["S"][len("MSG#") :],
        role=item["role"]["S"],
        text=item["text"].get("S", ""),
        created_at=float(item["created_at"]["N"]),
        answers=item.get("answers", {}).get("S"),
        stats=json.loads(item["stats"]["S"]),
        feedback=Feedback(
            item["rating"]["S"] if "rating" in item else None,
            item.get("comment", {}).get("S", ""),
            float(item["rated_at"]["N"]),
        )
        if "rated_at" in item
        else None,
    )
