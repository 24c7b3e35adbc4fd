"""A Streamlit session over the app's websocket, as the browser's frontend drives one:
BackMsg protobufs out (a rerun with the widgets' states; a widget in a fragment asks
for a run of its fragment), ForwardMsg protobufs in (the page's elements as deltas).
bench/load.py runs many of them from one asyncio loop, which costs far less CPU per
session than a browser tab, so that the app, not the client, is what a load figure
measures.

Written here because Streamlit ships no client of its own; the messages are its
protobufs (``streamlit.proto``), as the frontend sends them: a chat_input's value is
a ``WidgetState`` with ``chat_input_value`` in a ``rerun_script`` BackMsg.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Common_pb2 import ChatInputValue
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

# Seconds a page run may take before the session gives up on it.
RUN_DEADLINE_S = 300.0


class Session:
    """One tab of the app: ``open`` runs its first page, ``ask`` sends a question in the
    chat box; ``on_markdown`` sees each markdown element's text as it arrives."""

    def __init__(self, url: str, on_markdown: Callable[[str], None] = lambda body: None) -> None:
        self.url = url.replace("http://", "ws://") + "/_stcore/stream"
        self.on_markdown = on_markdown
        self.page_script_hash = ""
        self.chat_input_id = ""
        self.chat_input_fragment = ""  # the fragment the chat box is in, if any: its run alone
        self._socket: ClientConnection | None = None

    async def open(self) -> None:
        self._socket = await connect(self.url, subprotocols=[Subprotocol("streamlit")], max_size=None)
        await self._rerun([])
        await self.finished()

    async def ask(self, question: str) -> None:
        """Type ``question`` in the chat box and press Enter; returns once it is sent."""
        value = WidgetState(id=self.chat_input_id, chat_input_value=ChatInputValue(data=question))
        await self._rerun([value], self.chat_input_fragment)

    async def finished(self) -> None:
        """Read the page's messages until a script run ends (not one cut short for a
        rerun, which ``st.rerun`` starts)."""
        async with asyncio.timeout(RUN_DEADLINE_S):
            while not self._read(await self._receive()):
                pass

    async def close(self) -> None:
        if self._socket:
            await self._socket.close()

    async def _rerun(self, widgets: list[WidgetState], fragment: str = "") -> None:
        message = BackMsg()
        message.rerun_script.fragment_id = fragment
        message.rerun_script.query_string = ""
        message.rerun_script.page_script_hash = self.page_script_hash
        message.rerun_script.widget_states.widgets.extend(widgets)
        assert self._socket
        await self._socket.send(message.SerializeToString())

    async def _receive(self) -> ForwardMsg:
        assert self._socket
        message = ForwardMsg()
        message.ParseFromString(await self._socket.recv())
        return message

    def _read(self, message: ForwardMsg) -> bool:
        """Take in one message; True when it ends a script run."""
        kind = message.WhichOneof("type")
        if kind == "new_session":
            self.page_script_hash = message.new_session.page_script_hash
        elif kind == "delta" and message.delta.WhichOneof("type") == "new_element":
            element = message.delta.new_element
            shown = element.WhichOneof("type")
            if shown == "markdown":
                self.on_markdown(element.markdown.body)
            elif shown == "chat_input":
                self.chat_input_id = element.chat_input.id
                self.chat_input_fragment = message.delta.fragment_id
        return kind == "script_finished" and message.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY
