"""Shared fixtures: the real hydrant binary, the real aws CLI, boto3, and a small HTTP
endpoint receiver that answers the way the Firehose HTTP endpoint spec requires.

Nothing here is mocked: every test talks over loopback sockets to a `hydrant firehose`
process started from $HYDRANT_BIN with its own temporary data directory.
"""

from __future__ import annotations

import base64
import datetime
import gzip
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import botocore.auth
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

REGION = "us-east-1"
ACCOUNT = "123456789012"
TARGET_PREFIX = "Firehose_20150804."
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/firehose-backup"

# Short delivery back-off so that retry paths run in about a second.
FAST_DELIVERY = """
[delivery]
backoff_base = 50
backoff_max = 200
"""


# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 20.0, what: str = "server") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{what} did not listen on 127.0.0.1:{port} within {timeout}s")


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    """Polls `predicate` until it returns something truthy; returns that value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last value: {last!r})")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def read_credentials(path: Path, profile: str = "hydrant") -> tuple[str, str]:
    key = secret = None
    current = None
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            current = line.strip("[]")
        elif current == profile and "=" in line:
            k, v = (x.strip() for x in line.split("=", 1))
            if k == "aws_access_key_id":
                key = v
            elif k == "aws_secret_access_key":
                secret = v
    assert key and secret, f"{path} has no complete [{profile}] profile"
    return key, secret


def http_destination(url: str, bucket: str = "hydrant-backup", **extra) -> dict:
    """An HttpEndpointDestinationConfiguration delivering at once (interval 0)."""
    cfg = {
        "EndpointConfiguration": {"Url": url, "Name": "receiver"},
        "BufferingHints": {"IntervalInSeconds": 0, "SizeInMBs": 1},
        "S3Configuration": {"RoleARN": ROLE_ARN, "BucketARN": f"arn:aws:s3:::{bucket}"},
    }
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k] = {**cfg[k], **v}
        else:
            cfg[k] = v
    return cfg


STATUS = "HTTPStatusCode"


def error_of(excinfo):
    """(code, message, status, request id) of a botocore ClientError."""
    e = excinfo.value
    meta = e.response["ResponseMetadata"]
    return e.response["Error"]["Code"], e.response["Error"]["Message"], meta[STATUS], meta.get("RequestId")


def assert_aws_error(resp, status, code):
    """A raw response is an AWS JSON 1.1 error: status, small flat body, request id."""
    assert resp.status_code == status, resp.text
    assert resp.headers.get("x-amzn-RequestId"), dict(resp.headers)
    assert resp.headers["Content-Type"].startswith("application/x-amz-json-1.1")
    body = resp.json()
    assert set(body) == {"__type", "message"}, body
    assert body["__type"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    return body["message"]


CLI_ERROR = re.compile(
    r"An error occurred \(([A-Za-z.]+)\) when calling the (\w+) operation(?: \(reached max retries: \d+\))?: (.*)", re.S
)


class CliResult:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    @property
    def json(self):
        return json.loads(self.stdout) if self.stdout.strip() else {}

    @property
    def error(self) -> tuple[str, str, str]:
        m = CLI_ERROR.search(self.stderr)
        assert m, f"no AWS error in aws CLI stderr: {self.stderr!r}"
        return m.group(1), m.group(2), m.group(3).strip()


# --------------------------------------------------------------------------- hydrant


class Hydrant:
    """A `hydrant firehose` process on a free loopback port."""

    def __init__(
        self,
        workdir: Path,
        config: str = FAST_DELIVERY,
        tls: Path | None = None,
        env: dict | None = None,
        credentials: Path | None = None,
    ):
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = workdir / "data"
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        self.config_path = workdir / "hydrant.toml"
        self.config_path.write_text(config)
        self.stdout_path = workdir / "stdout.log"
        self.stderr_path = workdir / "stderr.log"
        binary = os.environ.get("HYDRANT_BIN")
        assert binary, "HYDRANT_BIN must point at the hydrant binary (scripts/test sets it)"
        assert os.access(binary, os.X_OK), f"HYDRANT_BIN={binary} is not executable"
        args = [
            binary,
            "firehose",
            "--listen",
            f"127.0.0.1:{self.port}",
            "--data-dir",
            str(self.data_dir),
            "--region",
            REGION,
            "--account-id",
            ACCOUNT,
            "--config",
            str(self.config_path),
        ]
        if tls:
            args += [
                "--tls-listen",
                f"127.0.0.1:{self.tls_port}",
                "--tls-cert",
                str(tls / "server.pem"),
                "--tls-key",
                str(tls / "server-key.pem"),
            ]
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        full_env.setdefault("HYDRANT_LOG", "info")
        full_env.update(env or {})
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(args, stdout=self._out, stderr=self._err, env=full_env)
        wait_port(self.port, self.proc, what="hydrant")
        if self.tls_port:
            wait_port(self.tls_port, self.proc, what="hydrant (TLS)")
        self.endpoint = f"http://127.0.0.1:{self.port}"
        if credentials is None:
            credentials = self.data_dir / "credentials"
            wait_for(credentials.exists, timeout=10, what="the generated credentials file")
        self.credentials_file = credentials
        self.key, self.secret = read_credentials(credentials)

    # -- lifecycle

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._out.close()
        self._err.close()

    def stderr(self) -> str:
        self._err.flush()
        return self.stderr_path.read_text(errors="replace")

    # -- clients

    def client(self, key: str | None = None, secret: str | None = None, endpoint: str | None = None, **kw):
        return boto3.client(
            "firehose",
            region_name=REGION,
            endpoint_url=endpoint or self.endpoint,
            aws_access_key_id=key or self.key,
            aws_secret_access_key=secret or self.secret,
            config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
            **kw,
        )

    def aws(self, *args: str, profile: str = "hydrant", endpoint: str | None = None, extra=(), timeout=60) -> CliResult:
        aws = shutil.which("aws")
        assert aws, "the aws CLI is not on PATH (scripts/test puts .venv/bin first)"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_SHARED_CREDENTIALS_FILE=str(self.credentials_file),
            AWS_CONFIG_FILE="/dev/null",
            AWS_MAX_ATTEMPTS="1",
            AWS_RETRY_MODE="standard",
            AWS_PAGER="",
        )
        cmd = [
            aws,
            "--profile",
            profile,
            "--region",
            REGION,
            "--endpoint-url",
            endpoint or self.endpoint,
            "--output",
            "json",
            *extra,
            "firehose",
            *args,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
        return CliResult(proc)

    def raw(
        self,
        target: str | None,
        body: bytes | str | dict,
        key: str | None = None,
        secret: str | None = None,
        sign: bool = True,
        when: datetime.datetime | None = None,
    ) -> requests.Response:
        """A hand-made request: `body` goes out byte for byte, signed with SigV4 unless
        `sign` is false. `when` (naive UTC) signs as if the client's clock said so."""
        if isinstance(body, dict):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        headers = {"Content-Type": "application/x-amz-json-1.1"}
        if target is not None:
            # A bare operation name gets the Firehose prefix; a dotted target goes as is.
            headers["X-Amz-Target"] = target if "." in target else TARGET_PREFIX + target
        req = AWSRequest(method="POST", url=self.endpoint + "/", data=body, headers=headers)
        if sign:
            signer = SigV4Auth(Credentials(key or self.key, secret or self.secret), "firehose", REGION)
            if when is not None:
                # Only the signer's clock is changed; the request is real and goes out.
                saved = botocore.auth.get_current_datetime
                botocore.auth.get_current_datetime = lambda *a, **k: when
                try:
                    signer.add_auth(req)
                finally:
                    botocore.auth.get_current_datetime = saved
            else:
                signer.add_auth(req)
        prepared = req.prepare()
        return requests.post(self.endpoint + "/", data=body, headers=dict(prepared.headers), timeout=60)

    def metrics(self) -> str:
        r = requests.get(self.endpoint + "/metrics", timeout=10)
        assert r.status_code == 200, r.text
        return r.text

    def metric(self, name: str, **labels) -> float | None:
        """The value of the sample `name` whose labels include `labels` (None if absent)."""
        for line in self.metrics().splitlines():
            if line.startswith("#"):
                continue
            m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)", line)
            if not m or m.group(1) != name:
                continue
            got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
            if all(got.get(k) == v for k, v in labels.items()):
                return float(m.group(4))
        return None


@pytest.fixture(scope="session")
def hydrants(tmp_path_factory):
    """Starts hydrant processes on demand and stops every one at the end of the session."""
    started: list[Hydrant] = []

    def start(name: str, workdir: Path | None = None, **kw) -> Hydrant:
        """A new hydrant; with `workdir`, one reusing an earlier one's data directory."""
        h = Hydrant(workdir or tmp_path_factory.mktemp(name), **kw)
        started.append(h)
        return h

    yield start
    for h in started:
        h.stop()


@pytest.fixture(scope="module")
def hydrant(hydrants, request) -> Hydrant:
    """A fresh hydrant per test module (generated root credentials, short back-off)."""
    return hydrants(request.module.__name__.rsplit(".", 1)[-1])


# --------------------------------------------------------------------------- receiver


class Receiver:
    """An HTTP endpoint destination on loopback.

    The first path segment chooses the behaviour: `/ok/...` answers per spec (200,
    application/json, {"requestId": <same>, "timestamp": <ms>}); `/fail/...` always
    answers 500; `/toolarge/...` 413; `/text/...` a 200 with a text/plain content type;
    `/flaky2/...` 503 twice, then per spec; `/redirect/X` a 302 to `/ok/X`.
    Every request is recorded, with its headers and decoded records.
    """

    def __init__(self):
        self.lock = threading.Condition()
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                body = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
                try:
                    doc = json.loads(body)
                except ValueError:
                    doc = None
                entry = {
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": doc,
                    "received_ms": int(time.time() * 1000),
                    "records": [base64.b64decode(r["data"]) for r in (doc or {}).get("records", [])],
                }
                with receiver.lock:
                    receiver.requests.append(entry)
                    receiver.lock.notify_all()
                rid = (doc or {}).get("requestId", "")
                good = json.dumps({"requestId": rid, "timestamp": int(time.time() * 1000)}).encode()
                mode = self.path.split("/")[1]
                with receiver.lock:
                    seen = sum(1 for r in receiver.requests if r["path"] == self.path)
                if mode == "fail":
                    out, status, ctype = b"simulated outage", 500, "text/plain"
                elif mode == "toolarge":
                    out, status, ctype = b"payload too large", 413, "text/plain"
                elif mode == "text":  # 200, but not the JSON answer the spec requires
                    out, status, ctype = good, 200, "text/plain"
                elif mode == "redirect":  # must not be followed
                    self.send_response(302)
                    self.send_header("Location", "/ok" + self.path[len("/redirect") :])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                elif mode == "flaky2" and seen <= 2:  # two failures, then success
                    out, status, ctype = b"warming up", 503, "text/plain"
                else:
                    out, status, ctype = good, 200, "application/json"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def requests_for(self, path: str) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["path"] == path]

    def records(self, path: str) -> list[bytes]:
        return [rec for r in self.requests_for(path) for rec in r["records"]]

    def wait_records(self, path: str, n: int, timeout: float = 10.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                got = [rec for r in self.requests if r["path"] == path for rec in r["records"]]
                if len(got) >= n:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"receiver got {len(got)} of {n} records on {path} in {timeout}s: {got!r:.300}")
                self.lock.wait(left)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def receiver():
    r = Receiver()
    yield r
    r.close()


# --------------------------------------------------------------------------- intake


class Intake:
    """A `hydrant intake` process (the Datadog-compatible logs intake) on a free loopback
    port, with fixed keys shaped like Datadog's (32 and 40 hex digits)."""

    API_KEY = "0123456789abcdef0123456789abcdef"
    APP_KEY = "fedcba9876543210fedcba9876543210fedcba98"

    def __init__(self, workdir: Path, commit_interval_ms: int = 100):
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = workdir / "data"
        self.config_path = workdir / "intake.toml"
        # Only how soon an accepted log is searchable; everything else is the default.
        self.config_path.write_text(f"commit_interval_ms = {commit_interval_ms}\n")
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        """Starts (or restarts, on the same data directory) the process on a new port."""
        assert self.proc is None or self.proc.poll() is not None, "intake already running"
        binary = os.environ.get("HYDRANT_BIN")
        assert binary, "HYDRANT_BIN must point at the hydrant binary (scripts/test sets it)"
        self.port = free_port()
        n = len(list(self.workdir.glob("stdout*.log")))
        self.stdout_path = self.workdir / f"stdout{n}.log"
        self.stderr_path = self.workdir / f"stderr{n}.log"
        args = [
            binary,
            "intake",
            "--listen",
            f"127.0.0.1:{self.port}",
            "--data-dir",
            str(self.data_dir),
            "--api-key",
            self.API_KEY,
            "--app-key",
            self.APP_KEY,
            "--config",
            str(self.config_path),
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.setdefault("HYDRANT_LOG", "info")
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(args, stdout=out, stderr=err, env=env)
        self.endpoint = f"http://127.0.0.1:{self.port}"
        banner = f"hydrant intake listening on {self.endpoint}"

        def listening():
            assert self.proc.poll() is None, f"hydrant intake exited with {self.proc.returncode}: {self.stderr()}"
            return banner in self.stdout_path.read_text(errors="replace")

        wait_for(listening, timeout=20, what=f"'{banner}' on stdout")

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then waits; returns the exit status (None if it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            return None

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


@pytest.fixture(scope="session")
def intakes(tmp_path_factory):
    """Starts `hydrant intake` processes on demand; stops every one at the end of the session."""
    started: list[Intake] = []

    def start(name: str = "intake", **kw) -> Intake:
        i = Intake(tmp_path_factory.mktemp(name), **kw)
        started.append(i)
        return i

    yield start
    for i in started:
        i.stop()


@pytest.fixture
def intake(intakes):
    """A fresh intake for one test, stopped after it."""
    i = intakes("intake")
    yield i
    i.stop()
