"""The SageMaker runtime HTTP API on 127.0.0.1, serving the bundled model.

``python -m chat_core endpoint --port 8080`` answers what boto3 sends for
InvokeEndpoint (``POST /endpoints/{name}/invocations``) and
InvokeEndpointWithResponseStream (``.../invocations-response-stream``, framed
as AWS event-stream ``PayloadPart`` events), with SageMaker's error responses;
an inference component is named in the ``X-Amzn-SageMaker-Inference-Component``
header, as botocore sends ``InferenceComponentName``.
Point the app at it with ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=http://127.0.0.1:8080``
and the whole boto3 -> botocore -> HTTP path runs offline.  The same port answers
the SageMaker control plane (``POST /`` with ``X-Amz-Target``, control.py) for the
inference components it serves, passing other calls to moto's server:
``AWS_ENDPOINT_URL_SAGEMAKER`` points there.

Requests are not authenticated: it listens on the loopback address only, and
answers only requests addressed to it by a loopback name (a web page whose DNS
name was rebound to 127.0.0.1 sends its own name as Host), and none a browser
sends for a web page (those carry Origin).  A request must
declare its body's length, within SageMaker's limit; a client that sends or
reads nothing for ``timeout_s`` is disconnected, and so is one that has not sent
its whole request (head and body) ``request_deadline_s`` after its first byte,
however it trickles; connections past ``max_connections`` are closed at once.
So idle, stalled or trickling callers hold neither threads nor places in the
queue for long.  A body that cannot be read is a ValidationError (400), and a
failure of the server's own a 500 ``InternalFailure`` (once a stream has begun,
its ``InternalStreamFailure`` event), as on SageMaker: never a silent close.
"""

from __future__ import annotations

import binascii
import contextlib
import io
import json
import re
import socket
import struct
import threading
import time
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from chat_core.local.control import ControlPlane
from chat_core.local.endpoint import EndpointFault, LocalEndpoint

_PATH_PREFIX = "/endpoints/"
# InvokeEndpoint's largest request body: BodyBlob's "max" in botocore's
# sagemaker-runtime service model (6 MB, SageMaker's real-time payload limit).
MAX_BODY_BYTES = 6 * 1024 * 1024
# Seconds a client may leave the server waiting on it, for each read or write.
CLIENT_TIMEOUT_S = 30.0
# Seconds a client has to send a whole request from its first byte: boto3 sends
# one at once, and 6 MB take milliseconds over the loopback interface.
REQUEST_DEADLINE_S = 10.0
# Connections served at once: the app and a benchmark need a few; each holds a thread.
MAX_CONNECTIONS = 64
_LOOPBACK_HOST = re.compile(r"(?:127\.0\.0\.1|localhost|\[::1\])(?::[0-9]+)?", re.IGNORECASE)


def _header(name: str, value: str) -> bytes:
    encoded = value.encode()
    return bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(encoded)) + encoded


def event_message(payload: bytes, *, failure: str | None = None) -> bytes:
    """One PayloadPart in AWS's event-stream framing: prelude (total and header
    lengths, CRC32), string headers, payload, CRC32 of the whole message; or, with
    ``failure``, the stream's exception of that name (``payload`` its JSON).
    Written here because botocore only decodes this framing."""
    if failure:
        headers = (
            _header(":exception-type", failure)
            + _header(":content-type", "application/json")
            + _header(":message-type", "exception")
        )
    else:
        headers = (
            _header(":event-type", "PayloadPart")
            + _header(":content-type", "application/octet-stream")
            + _header(":message-type", "event")
        )
    prelude = struct.pack(">II", 16 + len(headers) + len(payload), len(headers))
    message = prelude + struct.pack(">I", binascii.crc32(prelude)) + headers + payload
    return message + struct.pack(">I", binascii.crc32(message))


class _Reads(io.RawIOBase):
    """A connection's incoming bytes, each wait for them bounded by ``timeout_s``
    and, once a request has begun, by what is left of its deadline: the socket's
    own timeout bounds each wait alone, which a byte every few seconds renews."""

    def __init__(self, connection: socket.socket, timeout_s: float, deadline_s: float) -> None:
        self.connection, self.timeout_s, self.deadline_s = connection, timeout_s, deadline_s
        self.deadline: float | None = None

    def readable(self) -> bool:
        return True

    def next_request(self) -> None:
        """The next bytes read begin a request: its deadline starts with them."""
        self.deadline = None

    def readinto(self, buffer: Any) -> int:
        wait = self.timeout_s
        if self.deadline is not None:
            wait = min(wait, self.deadline - time.monotonic())
            if wait <= 0:
                raise TimeoutError("the request was not sent whole in time")
        self.connection.settimeout(wait)
        try:
            received = self.connection.recv_into(buffer)
        finally:
            self.connection.settimeout(self.timeout_s)  # for the answer's writes
        if received and self.deadline is None:
            self.deadline = time.monotonic() + self.deadline_s
        return received


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # a streamed token is sent at once, not held for the next one
    server: EndpointServer

    def setup(self) -> None:
        self.timeout = self.server.timeout_s  # applied to the connection by StreamRequestHandler
        super().setup()
        self.rfile.close()  # read through _Reads instead, to bound each request as a whole
        self.reads = _Reads(self.connection, self.server.timeout_s, self.server.request_deadline_s)
        self.rfile = io.BufferedReader(self.reads)

    def handle(self) -> None:
        # A client gone mid-request (reset, broken pipe) has nobody left to answer;
        # one that stalls past the timeout or the deadline is dropped by
        # handle_one_request itself (it catches TimeoutError).
        with contextlib.suppress(ConnectionError):
            super().handle()

    def handle_one_request(self) -> None:
        self.reads.next_request()
        super().handle_one_request()

    def do_POST(self) -> None:
        try:
            self._check_host()
            length = self._body_length()
        except EndpointFault as fault:
            self.close_connection = True  # the unread body cannot be told from a next request
            self._fault(fault)
            return
        body = self.rfile.read(length)
        if len(body) < length:  # the client closed its side before sending it all
            self.close_connection = True
            return
        path = self.path.split("?", 1)[0]
        if path == "/" and "X-Amz-Target" in self.headers:
            self._control(body)
            return
        name, _, operation = path[len(_PATH_PREFIX) :].partition("/")
        if not path.startswith(_PATH_PREFIX) or operation not in (
            "invocations",
            "invocations-response-stream",
        ):
            self._fault(EndpointFault("UnknownOperationException", f"No operation at {path}", 404))
            return
        try:
            response = self.server.endpoint.invoke(
                unquote(name),
                body,
                stream=operation == "invocations-response-stream",
                custom_attributes=self.headers.get("X-Amzn-SageMaker-Custom-Attributes"),
                component=self.headers.get("X-Amzn-SageMaker-Inference-Component"),
            )
        except EndpointFault as fault:
            self._fault(fault)
            return
        except Exception as error:  # a fault of the server's, not the caller's: an answer that says so
            self._fault(self._failed(error))
            return
        try:
            if response.events is not None:
                self._stream(response.content_type, response.events)
                return
            assert response.body is not None
            self.send_response(200)
            self.send_header("Content-Type", response.content_type)
            self.send_header("X-Amzn-Invoked-Production-Variant", "AllTraffic")
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)
        finally:  # a client gone at any point, even before the first event, gives its place back
            response.close()

    def _control(self, body: bytes) -> None:
        """A SageMaker control-plane call (JSON 1.1), answered by ``control.ControlPlane``."""
        try:
            answer = self.server.control.answer(self.headers, body)
        except EndpointFault as fault:
            self._fault(fault, typed=True)
            return
        except Exception as error:
            self._fault(self._failed(error), typed=True)
            return
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def _check_host(self) -> None:
        hosts = self.headers.get_all("Host", [])
        if len(hosts) != 1 or not _LOOPBACK_HOST.fullmatch(hosts[0].strip()):
            raise EndpointFault(
                "AccessDeniedException",
                "This server answers requests addressed to 127.0.0.1 or localhost (the Host header) only.",
                403,
            )
        # Any web page can send a POST here and make the model work; browsers name the
        # page in Origin, and SDKs never send one.
        if "Origin" in self.headers:
            raise EndpointFault("AccessDeniedException", "Requests from web pages are not served.", 403)

    def _body_length(self) -> int:
        """The body's length, as one Content-Length header declares it: chunked
        bodies are not read (boto3 sends none), and none over SageMaker's limit."""
        lengths = self.headers.get_all("Content-Length", [])
        if not lengths or "Transfer-Encoding" in self.headers:
            raise EndpointFault("ValidationError", "A request must declare its body's Content-Length.", 411)
        if len(lengths) != 1 or not re.fullmatch(r"[0-9]+", lengths[0].strip()):
            raise EndpointFault("ValidationError", "Content-Length must be one number of bytes.", 400)
        length = int(lengths[0])
        if length > MAX_BODY_BYTES:
            raise EndpointFault(
                "ValidationError",
                f"The request body of {length} bytes is larger than the {MAX_BODY_BYTES} bytes allowed.",
                413,
            )
        return length

    def _stream(self, content_type: str, events: Iterator[bytes]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.amazon.eventstream")
        self.send_header("X-Amzn-SageMaker-Content-Type", content_type)
        self.send_header("X-Amzn-Invoked-Production-Variant", "AllTraffic")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for event in events:
                self._chunk(event_message(event))
        except OSError:  # the client's connection: nobody to tell
            raise
        except Exception as error:  # too late for a 500: the stream ends with SageMaker's failure event
            message = json.dumps({"Message": self._failed(error).message}).encode()
            self._chunk(event_message(message, failure="InternalStreamFailure"))
        self.wfile.write(b"0\r\n\r\n")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _failed(self, error: Exception) -> EndpointFault:
        """A failure of the server's own, logged, as SageMaker reports one."""
        self.log_error("%s", traceback.format_exc())
        message = f"The server failed on this request ({type(error).__name__}); its log has the details."
        return EndpointFault("InternalFailure", message, 500)

    def _fault(self, fault: EndpointFault, *, typed: bool = False) -> None:
        """The error response; ``typed``, its code in the body's ``__type`` too, where
        botocore reads it for JSON 1.1 services (the control plane)."""
        fields = {"__type": fault.code} if typed else _model_error_fields(fault)
        body = json.dumps({"message": fault.message, **fields}).encode()
        self.send_response(fault.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Amzn-ErrorType", fault.code)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        if not self.server.quiet:
            super().log_message(format, *args)


def _model_error_fields(fault: EndpointFault) -> dict[str, object]:
    if fault.code != "ModelError":
        return {}
    return {"OriginalStatusCode": 400, "OriginalMessage": fault.message}


class EndpointServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        endpoint: LocalEndpoint,
        port: int = 8080,
        *,
        quiet: bool = False,
        timeout_s: float = CLIENT_TIMEOUT_S,
        request_deadline_s: float = REQUEST_DEADLINE_S,
        max_connections: int = MAX_CONNECTIONS,
        control_plane: str | None = None,
    ) -> None:
        """``control_plane``: the URL of moto's server, where the SageMaker control-plane
        calls not answered here go (control.py)."""
        self.endpoint = endpoint
        self.control = ControlPlane(endpoint, control_plane)
        self.quiet = quiet
        self.timeout_s = timeout_s
        self.request_deadline_s = request_deadline_s
        self._connections = threading.BoundedSemaphore(max_connections)
        super().__init__(("127.0.0.1", port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """A thread for the connection, or, past ``max_connections``, closed at once:
        each one holds a thread and may buffer a body."""
        if not self._connections.acquire(blocking=False):
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._connections.release()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> EndpointServer:
        """Serve from a background thread (tests and benchmarks); ``shutdown`` stops it."""
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self
