"""How a streamed answer reaches the page: in frames of tokens, not a message per
token, so that many sessions streaming at once do not spend the app's one
interpreter redrawing every answer at every token (bench/load.py measures it).
Over the app's real websocket (``streamlit run app.py``, bench/streamlit_client.py),
because what is sent to the browser is what is counted.  The scripted model gives a
token every 5 ms, at a pace Streamlit's own queue sends one by one (with no pace it
merges them: its queue keeps only the last of the deltas waiting for one element)."""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from langchain_core.runnables import RunnableConfig, RunnableLambda
from shared import app_process

from bench.streamlit_client import Session
from chat_core.conversations.exchange import Exchange, Settings
from chat_core.conversations.reply import Reply, TokenRelay
from chat_core.local.scripted import answer_for
from chat_core.models.catalog import GenerationParams, load_catalog
from chat_core.models.endpoint import ChatClient
from chat_core.models.prompts import CHATML
from pages.frames import Frames

WORDS = 150


def test_a_long_answer_reaches_the_page_whole_in_a_few_frames(tmp_path: Path) -> None:
    question = " ".join(f"word{number}" for number in range(WORDS))
    answer = answer_for(CHATML.render("", [], question))
    tokens = len(answer.split())
    drawn: list[str] = []

    async def ask(url: str) -> None:
        tab = Session(url, lambda body: drawn.append(body) if body.split(" ", 1)[0] == "You" else None)
        await tab.open()
        await tab.ask(question)
        await tab.finished()
        await tab.close()

    environment = {"LOCAL_MODEL": "scripted:5", "CHAT_STORE": f"sqlite://{tmp_path}/chat.db"}
    with app_process(environment) as (url, _), ThreadPoolExecutor(1) as thread:
        # In a thread of its own: a test run before may leave an event loop running in this one.
        thread.submit(asyncio.run, ask(url)).result()
    assert drawn[-1] == answer  # the whole answer, as the model gave it
    assert all(answer.startswith(text) for text in drawn)  # each frame a part of it, in order
    # Once for its first text, once when it ends, once after the run (the exchange
    # drawn again), and a frame now and then: far fewer than its tokens.
    assert len(drawn) <= tokens // 4, f"{len(drawn)} redraws for {tokens} tokens"


def test_an_answer_is_drawn_to_its_end_before_it_is_saved() -> None:
    """The last frame goes to the page when the model's text has all come, not after
    the store's write, which with many sessions at once waits its turn (bench/load.py).
    As the chat page streams (``pages/chat.py``'s ``_stream``), with a model whose
    tokens all come within one frame, and a store noting what the page had drawn."""

    def model(inputs: dict[str, str], config: RunnableConfig) -> str:
        for token in ("Seoul", " has", " the", " Han."):
            for handler in config["callbacks"].handlers:
                handler.on_llm_new_token(token)
        return ""

    drawn: list[str] = []
    when_saved: list[str] = []
    relay = TokenRelay(RunnableLambda(model), {}, ChatClient(None), owner="ana")
    settings = Settings(
        load_catalog()["local-smollm2"], GenerationParams(max_new_tokens=20, temperature=0.0, top_p=1.0)
    )
    reply = Reply(
        Exchange("Which river?"),
        relay,
        settings,
        time.perf_counter(),
        None,
        0,
        60.0,
        save=lambda exchange: when_saved.append(drawn[-1]),
    )
    frames = Frames[int](lambda _, text: drawn.append(text))
    for piece in reply.streamed(ended=frames.flush):
        frames.add(0, piece)
    frames.flush()
    assert when_saved == ["Seoul has the Han."]
