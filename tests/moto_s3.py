"""A real S3 API on 127.0.0.1 for the tests: moto's server (werkzeug, threaded) on a free port, with every
request it answers recorded, so a test can count the HEADs, listings and PUTs a transfer made, and can hold
uploads in flight to kill a client in the middle of a push.

Credentials are moto's dummy ones, passed as DVC users do: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` in
the environment, the server in the remote's ``endpointurl``.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
HOLD_LIMIT_S = 60.0  # a held request is let through after this long, so a failed test cannot hang


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # /bucket/key
    query: str

    @property
    def is_listing(self) -> bool:
        return self.method == "GET" and ("list-type" in self.query or "prefix=" in self.query)


class MotoS3:
    """moto's S3 served on a free local port; ``requests`` is everything it was asked, in order."""

    def __init__(self) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._hold: Callable[[Request], bool] | None = None
        self._release = threading.Event()
        self.held = 0
        app = DomainDispatcherApplication(create_backend_app)

        def recording(environ: dict[str, Any], start_response: Any) -> Any:
            request = Request(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""))
            with self._lock:
                self.requests.append(request)
                hold = self._hold is not None and self._hold(request)
                if hold:
                    self.held += 1
            if hold:
                self._release.wait(HOLD_LIMIT_S)
            return app(environ, start_response)

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request drowns a failure's output
        self._server = make_server("127.0.0.1", 0, recording, threaded=True, request_handler=MotoRequestHandler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._thread.join()

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=CREDENTIALS["AWS_DEFAULT_REGION"])

    def new_bucket(self) -> str:
        name = f"bucket-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> dict[str, bytes]:
        """Every object of ``bucket``: key -> content."""
        client = self.client()
        found: dict[str, bytes] = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                found[item["Key"]] = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        return found

    def mark(self) -> int:
        """Where the request log is now: ``since(mark)`` is what came after."""
        with self._lock:
            return len(self.requests)

    def since(self, mark: int, bucket: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests[mark:] if r.path.startswith(f"/{bucket}")]

    def hold_uploads_after(self, count: int, bucket: str) -> None:
        """Keep every object PUT after the first ``count`` to ``bucket`` waiting until :meth:`release`."""
        seen = [0]

        def hold(request: Request) -> bool:
            if request.method != "PUT" or not request.path.startswith(f"/{bucket}/"):
                return False
            seen[0] += 1
            return seen[0] > count

        self._release.clear()
        with self._lock:
            self.held = 0
            self._hold = hold

    def release(self) -> None:
        with self._lock:
            self._hold = None
        self._release.set()


def object_keys(requests: Iterable[Request], method: str) -> list[str]:
    """The object keys (``files/md5/..``) of the requests with ``method``."""
    return [r.path.split("/", 2)[2] for r in requests if r.method == method and r.path.count("/") >= 2 and "/files/md5/" in r.path]
