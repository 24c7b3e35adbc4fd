"""Answers that would never end: a stream whose last PayloadPart has no trailing
newline (a container that answers the streaming call with plain JSON sends one),
an endpoint that keeps trickling tokens past the answer's deadline, and one that
goes silent mid-answer while the page run that asked ends.

Real boto3 and botocore over HTTP to the endpoint server on 127.0.0.1
(chat_core/local/server.py: its event-stream framing and chunked replies), in front
of a stand-in endpoint that sends the exact bytes each test needs; conversations in
real SQLite; the chat page in Streamlit's AppTest.  A hang is bounded by joining
the thread that reads the answer with HANG_GUARD_S, so a test fails rather than hangs."""

import itertools
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from chat_page import start

from chat_core.conversations.backends import open_store
from chat_core.conversations.exchange import MODES, Settings, State
from chat_core.conversations.session import ChatSession
from chat_core.conversations.store import Store
from chat_core.errors import ChatError
from chat_core.local.endpoint import Response
from chat_core.local.server import EndpointServer
from chat_core.models.catalog import GenerationParams, custom_model
from chat_core.models.endpoint import runtime_client

HANG_GUARD_S = 20.0  # how long an answer may take to end before the test fails; well under 1 s when fixed
FALCON = custom_model("falcon-stream", "tgi", 2048, None)
LLAMA = custom_model("llama-stream", "llama2-chat", 4096, None)
PARAMS = GenerationParams(max_new_tokens=64, temperature=0.0, top_p=1.0)


class Scripted:
    """An endpoint for ``EndpointServer`` whose every streamed answer is ``parts()``,
    one PayloadPart each, whatever it is asked."""

    def __init__(self, parts: Callable[[], Iterator[bytes]]) -> None:
        self.parts = parts

    def invoke(self, endpoint: str, body: bytes | str, *, stream: bool, **headers: object) -> Response:
        assert stream, "these endpoints only stream"
        return Response("text/event-stream", events=self.parts())


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Callable[[], Iterator[bytes]]], None]]:
    """Serve ``parts`` to every streaming call; boto3 is pointed at the server with
    placeholder keys that only let botocore sign."""
    servers: list[EndpointServer] = []

    def start_serving(parts: Callable[[], Iterator[bytes]]) -> None:
        server = EndpointServer(Scripted(parts), port=0, quiet=True).start()  # type: ignore[arg-type]
        servers.append(server)
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", server.url)
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
        monkeypatch.setenv("ACCOUNT_ENDPOINTS", "false")
        runtime_client(FALCON)  # botocore's service model loaded now: a deadline times the answer only

    yield start_serving
    for server in servers:
        server.shutdown()
        server.server_close()


def token(text: str) -> bytes:
    return b'data:{"token":{"id":0,"text":"%s","special":false}}\n\n' % text.encode()


def trickle() -> Iterator[bytes]:
    """An endpoint that never stops: a token every 20 ms."""
    for n in itertools.count():
        yield token(f"tick{n} ")
        time.sleep(0.02)


def silent_after_one(released: threading.Event) -> Callable[[], Iterator[bytes]]:
    """An endpoint that sends one token, then nothing until ``released`` (the test's end)."""

    def parts() -> Iterator[bytes]:
        yield token("tick0 ")
        released.wait(120)

    return parts


def answer_threads() -> set[threading.Thread]:
    """The threads alive now, less the test server's (one per connection)."""
    return {t for t in threading.enumerate() if "process_request_thread" not in t.name}


def assert_no_thread_left(before: set[threading.Thread]) -> None:
    """Every thread the answer started has ended: none waits on the endpoint, none spins."""
    for thread in answer_threads() - before:
        thread.join(HANG_GUARD_S)
    assert answer_threads() - before == set(), "a thread of the answer is still running"


def read_within_guard(read: Callable[[], object]) -> None:
    """Run ``read`` (the page's part: iterating an answer) and fail if it has not
    ended within HANG_GUARD_S."""
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(HANG_GUARD_S)
    assert not reader.is_alive(), f"the answer did not end within {HANG_GUARD_S} s"


def read_reply(chat: ChatSession, question: str, settings: Settings, chunks: list[str]) -> None:
    """Ask and read the answer as the page does; a ChatError is kept in the exchange."""

    def read() -> None:
        try:
            with chat.ask(question, settings) as reply:
                chunks.extend(reply)
        except ChatError:
            pass

    read_within_guard(read)


MID_LINE = {
    # TGI's events, the last one without its blank line or even its newline.
    "tgi-last-event": ([token("Hello")[:-2] + b"\n", token(" world").rstrip(b"\n")], "Hello world"),
    # A container answering the streaming call with its plain JSON answer, in two parts.
    "plain-json": ([b'[{"generated_', b'text":"A plain answer."}]'], "A plain answer."),
    # Cut off inside an event: nothing to read, and said so.
    "cut-mid-event": ([token("Hello"), b'data:{"token":{"id":0,"te'], None),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", MID_LINE)
def test_a_stream_that_ends_mid_line_ends_with_its_last_line_or_a_message(
    case: str, mode: str, serve: Callable[..., None]
) -> None:
    parts, expected = MID_LINE[case]
    serve(lambda: iter(parts))
    chat = ChatSession(open_store())
    before = answer_threads()
    chunks: list[str] = []
    read_reply(chat, "Say hello.", Settings(FALCON, PARAMS, mode), chunks)

    exchange = chat.exchanges[-1]
    if expected is None:
        assert exchange.state is State.FAILED and exchange.reason is not None
        assert "cannot read" in exchange.reason.en and "읽을 수 없습니다" in exchange.reason.ko
    else:
        assert "".join(chunks) == exchange.answer == expected and exchange.state is State.ANSWERED
    assert_no_thread_left(before)


def reopened(store: Store, chat: ChatSession) -> ChatSession:
    again = ChatSession(store)
    again.open(chat.conversation_id or "")
    return again


@pytest.fixture
def endless(serve: Callable[..., None], monkeypatch: pytest.MonkeyPatch) -> tuple[Store, ChatSession]:
    """A chat with a store, whose endpoints trickle tokens for ever and whose answers may take 2 s."""
    monkeypatch.setenv("ANSWER_MAX_SECONDS", "2")
    serve(trickle)
    store = open_store()
    return store, ChatSession(store)


@pytest.mark.parametrize("mode", MODES)
def test_the_deadline_ends_an_answer_that_keeps_streaming_and_keeps_its_text(
    mode: str, endless: tuple[Store, ChatSession]
) -> None:
    store, chat = endless
    before = answer_threads()
    chunks: list[str] = []
    read_reply(chat, "Count for ever.", Settings(FALCON, PARAMS, mode), chunks)

    exchange = chat.exchanges[-1]
    assert exchange.state is State.STOPPED and exchange.saved
    assert exchange.answer == "".join(chunks) and exchange.answer.startswith("tick0 tick1 ")
    assert exchange.reason is not None
    assert "2 s" in exchange.reason.en and "ANSWER_MAX_SECONDS" in exchange.reason.en
    assert "2초" in exchange.reason.ko
    last = reopened(store, chat).exchanges[-1]
    assert last.answer == exchange.answer and last.state is State.STOPPED
    assert_no_thread_left(before)


def test_compared_answers_get_the_same_deadline_each_keeping_its_text(
    endless: tuple[Store, ChatSession],
) -> None:
    store, chat = endless
    before = answer_threads()
    streamed: dict[int, str] = {0: "", 1: ""}

    def read() -> None:
        models = [Settings(FALCON, PARAMS), Settings(LLAMA, PARAMS)]
        for index, text in chat.compare("Count for ever.", models):
            streamed[index] += text or ""

    read_within_guard(read)

    assert chat.comparison is not None
    for index, candidate in enumerate(chat.comparison.candidates):
        exchange = candidate.exchange
        assert exchange.state is State.STOPPED and exchange.answer == streamed[index]
        assert exchange.answer.startswith("tick0 ") and exchange.saved
        assert exchange.reason is not None and "ANSWER_MAX_SECONDS" in exchange.reason.en
    saved = [m for m in store.messages("local", chat.conversation_id or "") if m.role == "assistant"]
    assert len(saved) == 2 and all(m.stats["stopped"] and m.stats["candidate"] for m in saved)
    assert_no_thread_left(before)


@pytest.mark.parametrize("mode", MODES)
def test_stop_ends_an_answer_whose_endpoint_went_silent_and_its_threads(
    mode: str, serve: Callable[..., None]
) -> None:
    """A click on Stop starts a page run that settles the answer the interrupted run
    was reading (``ChatSession.settle``), while no token comes."""
    released = threading.Event()
    serve(silent_after_one(released))
    store = open_store()
    chat = ChatSession(store)
    before = answer_threads()
    chunks: list[str] = []
    reading = threading.Thread(
        target=read_reply, args=(chat, "Say something.", Settings(FALCON, PARAMS, mode), chunks), daemon=True
    )
    reading.start()
    try:
        deadline = time.monotonic() + HANG_GUARD_S
        while not chunks and time.monotonic() < deadline:
            time.sleep(0.01)
        chat.settle(timeout=HANG_GUARD_S)

        exchange = chat.exchanges[-1]
        assert exchange.state is State.STOPPED and exchange.answer == "tick0 "
        assert reopened(store, chat).exchanges[-1].answer == "tick0 "
        reading.join(HANG_GUARD_S)
        assert_no_thread_left(before)
    finally:
        released.set()


@pytest.mark.parametrize("compared", [[], ["falcon-7b-instruct", "llama2-7b-chat"]], ids=["one", "compared"])
def test_a_page_run_that_ends_mid_answer_stops_the_answer_and_keeps_it(
    compared: list[str], serve: Callable[..., None]
) -> None:
    """AppTest ends a run that outlasts its timeout as Streamlit ends one whose browser
    left: it asks the run to stop and waits for it.  The run's answers are stopped
    there, their text kept and saved, and no thread of them is left."""
    released = threading.Event()
    serve(silent_after_one(released))
    try:
        at = start()
        at.sidebar.selectbox(key="model").set_value("falcon-7b-instruct").run()
        if compared:
            at.sidebar.toggle(key="compare").set_value(True).run()
            at.sidebar.multiselect(key="compared").set_value(compared).run()
        before = answer_threads()
        at.chat_input[0].set_value("Say something.")
        ended: list[BaseException] = []

        def run() -> None:
            try:
                at.run(timeout=8)
            except RuntimeError as error:  # "timed out": the run was stopped
                ended.append(error)

        read_within_guard(run)
        assert ended and "timed out" in str(ended[0])
        store = open_store()
        (conversation,) = store.conversations("local")
        question, *answers = store.messages("local", conversation.id)
        assert question.text == "Say something." and len(answers) == max(1, len(compared))
        assert all(answer.text == "tick0 " and answer.stats["stopped"] for answer in answers)
        assert_no_thread_left(before)
    finally:
        released.set()
