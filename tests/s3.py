"""A real S3 protocol server for tests: moto's, in a process of its own on a free 127.0.0.1
port (the ``s3_server`` fixture starts one per session, the first time a test asks).

Clients the tests make themselves get the test credentials explicitly (``client``); a
server under test finds them as it would in production, in the ``AWS_*`` environment
variables, which ``aws_environment`` sets only while a block runs.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import httpx
import pytest
from botocore.config import Config

from tests.support import ROOT, end_process, free_port, unique

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"
# Variables that could point boto3 elsewhere than at the test credentials (a developer's
# own profile or session), cleared while ``aws_environment`` runs.
_OTHER_AWS_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
)


class MotoServer:
    STARTUP_SECONDS = 60.0

    def __init__(self, log: Path) -> None:
        self.log = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self._client: S3Client | None = None

    def start(self) -> MotoServer:
        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        deadline = time.monotonic() + self.STARTUP_SECONDS
        while True:
            try:
                httpx.get(self.url + "/moto-api/", timeout=1)
                return self
            except httpx.TransportError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError(
                        "moto's S3 server did not start: " + self.log.read_text()
                    ) from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            end_process(self.process)

    def client(self) -> S3Client:
        """A client of this server with the test credentials, given explicitly: one for
        every test (clients are thread-safe, and making one takes a good tenth of a second)."""
        if self._client is None:
            self._client = boto3.session.Session(
                aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION
            ).client("s3", endpoint_url=self.url, config=Config(max_pool_connections=64))
        return self._client

    def new_bucket(self) -> str:
        """A fresh, empty bucket."""
        name = unique("dataloft-test-").lower()
        self.client().create_bucket(Bucket=name)
        return name


@contextlib.contextmanager
def aws_environment() -> Iterator[None]:
    """The test credentials in the environment for the block (for a server under test, and
    the processes it starts), and no other AWS settings; as they were afterwards."""
    with pytest.MonkeyPatch.context() as patch:
        for name in _OTHER_AWS_VARIABLES:
            patch.delenv(name, raising=False)
        patch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        patch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        # Nothing from a developer's ~/.aws, and no wait for an instance's metadata service.
        patch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        yield
