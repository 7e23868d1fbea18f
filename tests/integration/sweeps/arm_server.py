"""A local HTTPS server standing in for Azure Resource Manager's Container Apps job endpoints.

It answers what ``azure-mgmt-appcontainers`` sends for ``jobs.get`` and ``jobs.begin_start``
with the service's documented shapes: the job resource (properties.template.containers),
``202 Accepted`` plus a ``Location`` to poll for the start, and the finished execution
(``{"name", "id"}``) at that location. Requests are recorded for assertions.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
RESOURCE_GROUP = "rg-trader"
JOB = "ai-trader-sweep"
RESOURCE_ID = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.App/jobs/{JOB}"
)


def job_resource() -> dict[str, Any]:
    return {
        "id": RESOURCE_ID,
        "name": JOB,
        "type": "Microsoft.App/jobs",
        "location": "eastus",
        "properties": {
            "provisioningState": "Succeeded",
            "environmentId": f"{RESOURCE_ID.rsplit('/jobs/', 1)[0]}/managedEnvironments/env",
            "configuration": {"triggerType": "Manual", "replicaTimeout": 3600, "replicaRetryLimit": 1},
            "template": {
                "containers": [
                    {
                        "name": "sweep-job",
                        "image": "aitrader.azurecr.io/ai-trader:2026.11",
                        "command": ["python"],
                        "args": ["scripts/sweep_job_entry.py"],
                        "env": [
                            {"name": "SWEEP_OUTPUT_DIR", "value": "/mnt/sweeps"},
                            {"name": "SWEEP_JOB_ID", "value": "stale"},
                            {"name": "DATABASE_URL", "secretRef": "database-url"},
                        ],
                        "resources": {"cpu": 2.0, "memory": "4Gi"},
                    }
                ]
            },
        },
    }


@dataclass
class ArmServer:
    url: str
    ca_file: Path
    requests: list[dict[str, Any]] = field(default_factory=list)
    start_status: int = 202
    executions: int = 0


def _certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "arm.pem", folder / "arm.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


@contextmanager
def arm_server(folder: Path) -> Iterator[ArmServer]:
    cert_file, key_file = _certificate(folder)
    state: dict[str, ArmServer] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return

        def _send(
            self, status: int, body: dict[str, Any] | None, headers: dict[str, str] | None = None
        ) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _record(self, body: Any) -> None:
            server = state["server"]
            server.requests.append(
                {
                    "method": self.command,
                    "path": urlsplit(self.path).path,
                    "query": urlsplit(self.path).query,
                    "authorization": self.headers.get("Authorization"),
                    "body": body,
                }
            )

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            self._record(None)
            if path == RESOURCE_ID:
                self._send(200, job_resource())
            elif path.startswith("/operations/"):
                execution = path.rsplit("/", 1)[1]
                self._send(200, {"name": execution, "id": f"{RESOURCE_ID}/executions/{execution}"})
            else:
                self._send(404, {"error": {"code": "ResourceNotFound", "message": f"{path} not found"}})

        def do_POST(self) -> None:
            server = state["server"]
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"null")
            self._record(body)
            if urlsplit(self.path).path != f"{RESOURCE_ID}/start":
                self._send(404, {"error": {"code": "ResourceNotFound", "message": "no such job"}})
                return
            if server.start_status != 202:
                code = "Forbidden" if server.start_status == 403 else "ServiceUnavailable"
                self._send(server.start_status, {"error": {"code": code, "message": "start refused"}})
                return
            server.executions += 1
            execution = f"{JOB}-exec{server.executions:03d}"
            self._send(
                202,
                {"name": execution, "id": f"{RESOURCE_ID}/executions/{execution}"},
                {"Location": f"{server.url}/operations/{execution}", "Retry-After": "0"},
            )

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    port = httpd.server_address[1]
    state["server"] = ArmServer(url=f"https://127.0.0.1:{port}", ca_file=cert_file)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["server"]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
