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
- A message is written after the conversation's ``updated_at`` is bumped on
  condition that the conversation belongs to the writer; an answer is one item
  that names its question (``answers``), so a pair is never half written.

Region and endpoint come from boto3's own configuration
(``AWS_ENDPOINT_URL_DYNAMODB`` included).
"""

from __future__ import annotations

import json
import os
import uuid
from decimal import Decimal
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from chat_core.conversations.store import (
    AppendOnlyMessages,
    Conversation,
    Message,
    StoreUnavailable,
    in_order,
    next_key,
    not_found,
    now,
)

INDEX = "by-updated"


def create_table(table: str, client: Any = None) -> None:
    """Create the table with the key design above, on-demand, and wait for it."""
    client = client or _client()
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


def _client() -> Any:
    region = os.environ.get("AWS_REGION") or None  # botocore itself reads only AWS_DEFAULT_REGION
    return boto3.session.Session().client("dynamodb", region_name=region)


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float) -> dict[str, str]:
    return {"N": repr(value)}


def _updated_key(updated_at: float, conversation_id: str) -> str:
    return f"{updated_at:017.6f}#{conversation_id}"


class DynamoDBStore(AppendOnlyMessages):
    def __init__(self, table: str) -> None:
        self.table = table
        try:
            self._db = _client()
            status = self._db.describe_table(TableName=table)["Table"]["TableStatus"]
        except ClientError as error:
            code = error.response["Error"]["Code"]
            hint = (
                f"it does not exist: create it with `python -m chat_core create-table {table}`"
                if code == "ResourceNotFoundException"
                else f"{code}: {error.response['Error'].get('Message', '')}"
            )
            raise StoreUnavailable(
                f"Cannot use DynamoDB table '{table}': {hint}.",
                ko=f"DynamoDB 테이블 '{table}'을 쓸 수 없습니다: {hint}.",
            ) from error
        except BotoCoreError as error:
            raise StoreUnavailable(
                f"Cannot reach DynamoDB for table '{table}': {error}.",
                ko=f"테이블 '{table}'의 DynamoDB에 연결할 수 없습니다: {error}.",
            ) from error
        if status not in ("ACTIVE", "UPDATING"):
            raise StoreUnavailable(
                f"DynamoDB table '{table}' is {status}; try again when it is ACTIVE.",
                ko=f"DynamoDB 테이블 '{table}'이 {status} 상태입니다. ACTIVE가 되면 다시 시도하세요.",
            )

    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._db, operation)(TableName=self.table, **kwargs)
        except (ClientError, BotoCoreError) as error:
            raise StoreUnavailable(
                f"Could not use DynamoDB table '{self.table}': {error}.",
                ko=f"DynamoDB 테이블 '{self.table}'을 쓰지 못했습니다: {error}.",
            ) from error

    def create(self, owner: str, title: str, model: str, mode: str) -> Conversation:
        conversation = Conversation(uuid.uuid4().hex, owner, title, model, mode, now(), now())
        self._call(
            "put_item",
            Item={
                "PK": _s(f"USER#{owner}"),
                "SK": _s(f"CONV#{conversation.id}"),
                "LSI1SK": _s(_updated_key(conversation.updated_at, conversation.id)),
                "id": _s(conversation.id),
                "title": _s(title),
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
        )
        return [_conversation(owner, item) for item in items]

    def get(self, owner: str, conversation_id: str) -> Conversation:
        item = self._call("get_item", Key=_conversation_key(owner, conversation_id), ConsistentRead=True).get(
            "Item"
        )
        if item is None:
            raise not_found(conversation_id)
        return _conversation(owner, item)

    def messages(self, owner: str, conversation_id: str) -> list[Message]:
        self.get(owner, conversation_id)
        return in_order([_message(item) for item in self._messages(conversation_id, ConsistentRead=True)])

    def _update_own(self, owner: str, conversation_id: str, expression: str, values: dict[str, Any]) -> None:
        """Update the conversation on condition that it exists under the owner's key,
        so nothing is ever written to another's."""
        try:
            self._db.update_item(
                TableName=self.table,
                Key=_conversation_key(owner, conversation_id),
                UpdateExpression=expression,
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise not_found(conversation_id) from error
            raise StoreUnavailable(
                f"Could not save to DynamoDB table '{self.table}': {error}.",
                ko=f"DynamoDB 테이블 '{self.table}'에 저장하지 못했습니다: {error}.",
            ) from error

    def _append(self, owner: str, conversation_id: str, role: str, text: str, **extra: Any) -> str:
        """Bump the owner's conversation's ``updated_at``, then put the message."""
        updated_at = now()
        self._update_own(
            owner,
            conversation_id,
            "SET updated_at = :at, LSI1SK = :sort",
            {":at": _n(updated_at), ":sort": _s(_updated_key(updated_at, conversation_id))},
        )
        key = next_key()
        item = {
            "PK": _s(f"CONV#{conversation_id}"),
            "SK": _s(f"MSG#{key}"),
            "role": _s(role),
            "text": _s(text) if text else {"NULL": True},  # DynamoDB keeps no empty strings
            "created_at": _n(now()),
            "stats": _s(json.dumps(extra.get("stats", {}))),
        }
        if extra.get("answers"):
            item["answers"] = _s(extra["answers"])
        self._call("put_item", Item=item)
        return key

    def rename(self, owner: str, conversation_id: str, title: str) -> None:
        self._update_own(owner, conversation_id, "SET title = :title", {":title": _s(title)})

    def delete(self, owner: str, conversation_id: str) -> None:
        self.get(owner, conversation_id)
        # Messages first: a delete cut short leaves the conversation, not orphans.
        for key in self._messages(conversation_id, ProjectionExpression="PK, SK"):
            self._call("delete_item", Key=key)
        self._call("delete_item", Key=_conversation_key(owner, conversation_id))

    def _messages(self, conversation_id: str, **options: Any) -> list[dict[str, Any]]:
        return self._query(
            KeyConditionExpression="PK = :conversation",
            ExpressionAttributeValues={":conversation": _s(f"CONV#{conversation_id}")},
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
            self.delete(owner, conversation.id)


def _conversation_key(owner: str, conversation_id: str) -> dict[str, Any]:
    return {"PK": _s(f"USER#{owner}"), "SK": _s(f"CONV#{conversation_id}")}


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
    )
