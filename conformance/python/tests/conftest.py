"""Fixtures for the Countersign Python conformance suite.

The suite drives a real `countersign serve` process with the official, unchanged
`dropbox-sign` SDK from PyPI.

Environment:
  COUNTERSIGN_BIN            path of the server binary (default <repo>/target/debug/countersign)
  CONFORMANCE_DATABASE_URL   optional postgres://... URL, passed to the server as
                             COUNTERSIGN_DATABASE_URL (default: SQLite in a temp data dir)
  CONFORMANCE_REQUIRE_SERVER =1 makes a missing binary an error instead of a skip

The `callback_receiver` fixture is a real HTTP server in the test process (127.0.0.1, free port)
that records every request the Countersign delivery engine sends and acknowledges it the way
Dropbox Sign requires (HTTP 200, body "Hello API Event Received").
"""
from __future__ import annotations

import email
import email.policy
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from dropbox_sign import ApiClient, Configuration

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent.parent  # tests/ -> python/ -> conformance/ -> repo
HEALTH_DEADLINE_S = 30.0
CLI_TIMEOUT_S = 60.0

ACCOUNT_ID_RE = re.compile(r"^[0-9a-f]{40}$")
CLIENT_ID_RE = re.compile(r"^[0-9a-f]{32}$")

# A valid 1x1 PNG, used wherever a logo file is needed.
PNG_1x1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63606060f80f00010401005f5ba8b4"
    "0000000049454e44ae426082"
)

# (log path, tail captured when the server stopped) for the end-of-run summary.
_SERVER_LOGS: list[tuple[Path, str]] = []


@dataclass
class Server:
    base_url: str  # http://127.0.0.1:PORT
    api_url: str  # http://127.0.0.1:PORT/v3
    data_dir: Path
    bin: Path
    env: dict
    log_path: Path
    proc: subprocess.Popen

    def create_account(self, email: str | None = None) -> "Account":
        """Create an account with the CLI (`countersign account create`), return its credentials."""
        email = email or unique_email()
        proc = subprocess.run(
            [str(self.bin), "account", "create", "--email", email, "--data-dir", str(self.data_dir)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
        )
        assert proc.returncode == 0, (
            f"`countersign account create` exited {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
        )
        out = proc.stdout.strip()
        try:
            data = json.loads(out)
        except json.JSONDecodeError as e:  # must be exactly one JSON object
            raise AssertionError(f"`account create` stdout is not exactly one JSON object: {out!r}") from e
        assert isinstance(data, dict), f"`account create` printed {data!r}, expected an object"
        for key in ("account_id", "email_address", "api_key"):
            assert key in data, f"`account create` output lacks {key!r}: {data!r}"
        return Account(account_id=data["account_id"], email_address=data["email_address"], api_key=data["api_key"])

    def client(self, api_key: str) -> ApiClient:
        return make_client(self.api_url, api_key)

    def raw(self, method: str, path: str, api_key: str | None = None, **kwargs) -> requests.Response:
        """A raw HTTP call (for what the SDK refuses to send). `path` is relative to /v3."""
        if api_key is not None:
            kwargs.setdefault("auth", (api_key, ""))
        kwargs.setdefault("timeout", 30)
        return requests.request(method, self.api_url + path, **kwargs)


@dataclass
class Account:
    account_id: str
    email_address: str
    api_key: str


def unique_email(prefix: str = "conf") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def make_client(api_url: str, api_key: str) -> ApiClient:
    """The SDK configured exactly as a user would: API key as Basic username, host = base URL."""
    return ApiClient(Configuration(username=api_key, host=api_url))


def _binary() -> Path:
    env = os.environ.get("COUNTERSIGN_BIN")
    return Path(env) if env else REPO / "target" / "debug" / "countersign"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, n: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "<no log>"


def start_server(allow_private_callbacks: bool, tmp_root: Path, name: str, database_url: str | None = None) -> Server:
    bin_path = _binary()
    if not (bin_path.is_file() and os.access(bin_path, os.X_OK)):
        msg = f"countersign binary not found at {bin_path} (build it or set COUNTERSIGN_BIN)"
        if os.environ.get("CONFORMANCE_REQUIRE_SERVER") == "1":
            pytest.fail(msg)
        pytest.skip(msg)

    data_dir = tmp_root / name / "data"
    data_dir.mkdir(parents=True)
    log_path = tmp_root / name / "server.log"

    env = dict(os.environ)
    env.pop("COUNTERSIGN_ALLOW_PRIVATE_CALLBACKS", None)
    env.pop("COUNTERSIGN_DATABASE_URL", None)
    if allow_private_callbacks:
        env["COUNTERSIGN_ALLOW_PRIVATE_CALLBACKS"] = "1"
    if database_url:
        env["COUNTERSIGN_DATABASE_URL"] = database_url

    port = _free_port()
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [str(bin_path), "serve", "--addr", f"127.0.0.1:{port}", "--data-dir", str(data_dir)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    log.close()
    base = f"http://127.0.0.1:{port}"
    server = Server(base, base + "/v3", data_dir, bin_path, env, log_path, proc)

    deadline = time.monotonic() + HEALTH_DEADLINE_S
    last_err = None
    while True:
        if proc.poll() is not None:
            pytest.fail(f"countersign serve exited with {proc.returncode} before becoming healthy:\n{_tail(log_path)}")
        try:
            r = requests.get(base + "/healthz", timeout=2)
            if r.status_code == 200:
                return server
            last_err = f"HTTP {r.status_code}"
        except requests.RequestException as e:
            last_err = repr(e)
        if time.monotonic() > deadline:
            stop_server(server)
            pytest.fail(f"/healthz not 200 within {HEALTH_DEADLINE_S}s (last: {last_err}):\n{_tail(log_path)}")
        time.sleep(0.1)


def stop_server(server: Server) -> None:
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(timeout=10)
    _SERVER_LOGS.append((server.log_path, _tail(server.log_path, 40)))


@pytest.fixture(scope="session")
def tmp_root(request):
    """Temp dir for data dirs and server logs; kept when a test failed or CONFORMANCE_KEEP_TMP=1."""
    d = Path(tempfile.mkdtemp(prefix="countersign-conformance-"))
    yield d
    if os.environ.get("CONFORMANCE_KEEP_TMP") != "1" and request.session.testsfailed == 0:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def server(tmp_root) -> Server:
    """One server for the session, with COUNTERSIGN_ALLOW_PRIVATE_CALLBACKS=1."""
    s = start_server(
        allow_private_callbacks=True,
        tmp_root=tmp_root,
        name="main",
        database_url=os.environ.get("CONFORMANCE_DATABASE_URL"),
    )
    yield s
    stop_server(s)


@pytest.fixture(scope="session")
def strict_server(tmp_root) -> Server:
    """A second server with default callback URL rules (https to public addresses only)."""
    # Its own store: two servers with different callback rules and different master keys are not two
    # nodes of one instance (Countersign refuses to start a node whose master key does not match the
    # database). On PostgreSQL it gets the second schema scripts/test.sh prepares, else SQLite.
    s = start_server(
        allow_private_callbacks=False,
        tmp_root=tmp_root,
        name=f"strict-{uuid.uuid4().hex[:6]}",
        database_url=os.environ.get("CONFORMANCE_STRICT_DATABASE_URL"),
    )
    yield s
    stop_server(s)


@pytest.fixture
def account(server) -> Account:
    """A fresh account (created through the CLI) for each test."""
    return server.create_account()


@pytest.fixture
def other_account(server) -> Account:
    return server.create_account()


@pytest.fixture
def client(server, account) -> ApiClient:
    return server.client(account.api_key)


# ---------------------------------------------------------------------------------------------------
# Callback receiver
# ---------------------------------------------------------------------------------------------------

CALLBACK_ACK = b"Hello API Event Received"
CALLBACK_DEADLINE_S = 15.0


def parse_multipart_form(content_type: str, body: bytes) -> list[tuple[str, bytes]]:
    """Parse a multipart/form-data body with the standard library only: (field name, raw bytes) per part.

    The body is handed to `email` with a synthesized MIME header carrying the request's Content-Type
    (and so its boundary). Any parse defect fails the test.
    """
    assert content_type.lower().startswith("multipart/form-data"), f"Content-Type is {content_type!r}"
    head = f"MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n\r\n".encode("latin-1")
    msg = email.message_from_bytes(head + body, policy=email.policy.HTTP)
    assert msg.is_multipart(), f"body is not multipart: {body[:200]!r}"
    assert not msg.defects, f"multipart defects {msg.defects!r} in {body[:300]!r}"
    fields = []
    for part in msg.iter_parts():
        assert not part.defects, f"part defects {part.defects!r}"
        disposition = part.get("Content-Disposition", "")
        assert str(disposition).startswith("form-data"), f"part Content-Disposition is {disposition!r}"
        name = part.get_param("name", header="content-disposition")
        assert name, f"part without a name: {disposition!r}"
        fields.append((name, part.get_payload(decode=True)))
    return fields


@dataclass
class ReceivedRequest:
    """One request the receiver got, exactly as it came in."""

    method: str
    path: str
    headers: list[tuple[str, str]]  # in wire order, names as sent
    body: bytes
    received_at: float

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        assert len(values) <= 1, f"header {name!r} sent {len(values)} times: {values!r}"
        return values[0] if values else None

    def header_dict(self) -> dict[str, str]:
        return {k: v for k, v in self.headers}

    def form_fields(self) -> list[tuple[str, bytes]]:
        return parse_multipart_form(self.header("Content-Type") or "", self.body)

    def json_text(self) -> str:
        """The `json` form field, the only field a Dropbox Sign callback carries."""
        fields = self.form_fields()
        names = [n for n, _ in fields]
        assert names == ["json"], f"callback form fields are {names!r}, expected exactly ['json']"
        return fields[0][1].decode("utf-8")


@dataclass
class ReceiverEndpoint:
    """A callback URL handed to the server: whose key signs it, and whether it is an app's."""

    path: str
    url: str
    api_key: str
    client_id: str | None = None  # set for an app callback URL


@dataclass
class CallbackReceiver:
    base_url: str
    httpd: ThreadingHTTPServer
    requests: list[ReceivedRequest] = field(default_factory=list)
    endpoints: dict[str, ReceiverEndpoint] = field(default_factory=dict)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def record(self, req: ReceivedRequest) -> None:
        with self.cond:
            self.requests.append(req)
            self.cond.notify_all()

    def endpoint(self, api_key: str, client_id: str | None = None, label: str = "cb") -> ReceiverEndpoint:
        """A fresh callback URL on this receiver, registered so every callback to it can be checked."""
        path = f"/{label}/{uuid.uuid4().hex}"
        ep = ReceiverEndpoint(path=path, url=self.base_url + path, api_key=api_key, client_id=client_id)
        with self.cond:
            self.endpoints[path] = ep
        return ep

    def received(self, path: str | None = None) -> list[ReceivedRequest]:
        with self.cond:
            return [r for r in self.requests if path is None or r.path == path]

    def wait_for(self, path: str, count: int = 1, timeout: float = CALLBACK_DEADLINE_S) -> list[ReceivedRequest]:
        """Wait (up to `timeout` s) until `path` got at least `count` requests; return them all."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                got = [r for r in self.requests if r.path == path]
                if len(got) >= count:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    paths = [r.path for r in self.requests]
                    raise AssertionError(
                        f"{path} got {len(got)} request(s) within {timeout}s, expected {count} "
                        f"(receiver saw {len(paths)} request(s) in total: {paths!r})"
                    )
                self.cond.wait(timeout=left)

    def assert_sdk_accepts_all(self) -> int:
        """Every request received so far is a callback the official SDK accepts.

        For each one: `EventCallbackRequest.init(json)` parses it, `EventCallbackHelper.is_valid` is
        True with the key of the account the URL belongs to, and `get_callback_type` says app callback
        exactly when the URL is an app's. Returns how many were checked.
        """
        from dropbox_sign import EventCallbackHelper
        from dropbox_sign.models import EventCallbackRequest

        reqs = self.received()
        for req in reqs:
            ep = self.endpoints.get(req.path)
            assert ep is not None, f"request to an unregistered receiver path: {req.method} {req.path}"
            assert req.method == "POST", f"{req.method} {req.path}: callbacks must be POSTed"
            text = req.json_text()
            callback = EventCallbackRequest.init(text)
            assert isinstance(callback, EventCallbackRequest), f"init returned {callback!r} for {text!r}"
            assert EventCallbackHelper.is_valid(ep.api_key, callback), f"is_valid is False for {req.path}: {text}"
            expected = (
                EventCallbackHelper.EVENT_TYPE_APP_CALLBACK
                if ep.client_id
                else EventCallbackHelper.EVENT_TYPE_ACCOUNT_CALLBACK
            )
            assert EventCallbackHelper.get_callback_type(callback) == expected, f"{req.path}: {text}"
            if ep.client_id:
                assert callback.event.event_metadata.reported_for_app_id == ep.client_id, text
        return len(reqs)


class _ReceiverHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the delivery engine pools connections
    receiver: CallbackReceiver  # set on the per-receiver subclass

    def _handle(self) -> None:
        length = self.headers.get("Content-Length")
        if length is not None:
            body = self.rfile.read(int(length))
        elif "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            body = b"".join(chunks)
        else:
            body = b""
        self.receiver.record(
            ReceivedRequest(
                method=self.command,
                path=self.path,
                headers=list(self.headers.items()),
                body=body,
                received_at=time.time(),
            )
        )
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(CALLBACK_ACK)))
        self.end_headers()
        self.wfile.write(CALLBACK_ACK)

    do_POST = do_PUT = do_GET = _handle

    def log_message(self, format, *args):  # keep pytest output clean
        pass


@pytest.fixture(scope="session")
def callback_receiver() -> CallbackReceiver:
    """A real HTTP server on 127.0.0.1:0 recording every callback; answers 200 "Hello API Event Received"."""
    handler = type("ReceiverHandler", (_ReceiverHandler,), {})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    receiver = CallbackReceiver(base_url=f"http://127.0.0.1:{httpd.server_address[1]}", httpd=httpd)
    handler.receiver = receiver
    thread = threading.Thread(target=httpd.serve_forever, name="callback-receiver", daemon=True)
    thread.start()
    yield receiver
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if exitstatus not in (0, 5) and _SERVER_LOGS:
        for path, tail in _SERVER_LOGS:
            terminalreporter.write_sep("-", f"countersign server log tail ({path})")
            terminalreporter.write_line(tail)


def expect_api_error(fn, status: int, error_name: str | None = None, error_path: str | None = None):
    """Call fn(); assert the SDK raised ApiException with this status and a parsed ErrorResponse.

    Checks what an SDK user sees: `e.status`, and `e.data` (the SDK fills it with an
    ErrorResponse only when the body is JSON of the shape {"error": {"error_msg", "error_name", ...}}
    and the status is 4xx).
    """
    from dropbox_sign import ApiException
    from dropbox_sign.models import ErrorResponse

    with pytest.raises(ApiException) as info:
        fn()
    e = info.value
    assert e.status == status, f"expected HTTP {status}, got {e.status}; body={e.body!r}"
    assert isinstance(e.data, ErrorResponse), (
        f"SDK did not parse the error body into ErrorResponse (need application/json "
        f'{{"error": {{"error_msg", "error_name"}}}}); body={e.body!r}'
    )
    assert e.data.error.error_msg, f"empty error_msg; body={e.body!r}"
    if error_name is not None:
        assert e.data.error.error_name == error_name, f"body={e.body!r}"
    if error_path is not None:
        assert e.data.error.error_path == error_path, f"body={e.body!r}"
    return e


def expect_raw_error(resp, status: int, error_name: str | None = None, error_path: str | None = None) -> dict:
    """Same as expect_api_error, for a raw `requests` response."""
    assert resp.status_code == status, f"expected HTTP {status}, got {resp.status_code}; body={resp.text!r}"
    assert resp.headers.get("Content-Type", "").startswith("application/json"), resp.headers.get("Content-Type")
    body = resp.json()
    assert isinstance(body.get("error"), dict), f"no error object: {body!r}"
    err = body["error"]
    assert isinstance(err.get("error_msg"), str) and err["error_msg"], body
    assert isinstance(err.get("error_name"), str), body
    if error_name is not None:
        assert err["error_name"] == error_name, body
    if error_path is not None:
        assert err.get("error_path") == error_path, body
    return err
