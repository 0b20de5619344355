"""Fixtures for the Countersign Python conformance suite.

The suite drives a real `countersign serve` process with the official, unchanged
`dropbox-sign` SDK from PyPI.

Environment:
  COUNTERSIGN_BIN            path of the server binary (default <repo>/target/debug/countersign)
  CONFORMANCE_DATABASE_URL   optional postgres://... URL, passed to the server as
                             COUNTERSIGN_DATABASE_URL (default: SQLite in a temp data dir)
  CONFORMANCE_REQUIRE_SERVER =1 makes a missing binary an error instead of a skip
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
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


def start_server(allow_private_callbacks: bool, tmp_root: Path, name: str) -> Server:
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
    if os.environ.get("CONFORMANCE_DATABASE_URL"):
        env["COUNTERSIGN_DATABASE_URL"] = os.environ["CONFORMANCE_DATABASE_URL"]

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
    s = start_server(allow_private_callbacks=True, tmp_root=tmp_root, name="main")
    yield s
    stop_server(s)


@pytest.fixture(scope="session")
def strict_server(tmp_root) -> Server:
    """A second server with default callback URL rules (https to public addresses only)."""
    s = start_server(allow_private_callbacks=False, tmp_root=tmp_root, name=f"strict-{uuid.uuid4().hex[:6]}")
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
