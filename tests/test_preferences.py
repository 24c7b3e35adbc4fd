"""Each user's preferences in the store, on real SQLite and on DynamoDB (moto's server):
kept from one session to the next, replaced as a whole, never another user's, and
never listed as a conversation."""

from chat_core.conversations.store import Store


def test_preferences_are_kept_per_user_and_replaced_whole(store: Store) -> None:
    assert store.preferences("ana") == {}
    store.set_preferences("ana", {"choices": {"mode": "ConversationChain"}, "demo_notice_seen": True})
    store.set_preferences("ana", {"choices": {"mode": "PromptTemplate"}})
    assert store.preferences("ana") == {"choices": {"mode": "PromptTemplate"}}
    assert store.preferences("bo") == {}  # another user's are not theirs
    assert store.conversations("ana") == []  # not a conversation
    store.delete_all("ana")
