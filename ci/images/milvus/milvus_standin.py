"""`milvus run standalone`, served by Milvus Lite: the parts of a Milvus
standalone server that Dify's compose and api touch.

* gRPC (the Milvus protocol) on 0.0.0.0:19530, data under /var/lib/milvus/lite.
* HTTP on 0.0.0.0:9091: GET /healthz answers 200 "OK" (Dify's healthcheck).
* Authentication as Milvus does it when `common.security.authorizationEnabled`
  is true (Dify's compose sets it from MILVUS_AUTHORIZATION_ENABLED, default
  true): every call must carry the credentials of user root, password
  `common.security.defaultRootPassword` (default "Milvus"), given either as
  user/password or as the token "root:<password>"; anything else is refused
  with UNAUTHENTICATED.
* ETCD_ENDPOINTS and MINIO_ADDRESS are ignored: Milvus Lite keeps its own files.

Environment (besides the two settings above): MILVUS_LITE_DATA_DIR,
MILVUS_LITE_GRPC_PORT, MILVUS_LITE_HTTP_PORT.
"""

import base64
import logging
import os
import signal
import sys
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from milvus_lite.adapter.grpc.servicer import MilvusServicer
from milvus_lite.db import MilvusLite
from pymilvus.grpc_gen import milvus_pb2_grpc

log = logging.getLogger("milvus-standin")

MAX_MESSAGE_SIZE = 256 * 1024 * 1024
AUTH_FAILURE = "auth check failure, please check username, password or API key are correct"


def truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def decode_credentials(metadata) -> str | None:
    for key, value in metadata or ():
        if key.lower() != "authorization":
            continue
        if isinstance(value, bytes):
            value = value.decode("ascii", "replace")
        try:
            return base64.b64decode(value, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
    return None


class RootPasswordInterceptor(grpc.ServerInterceptor):
    """Refuse every call that does not carry root's credentials."""

    def __init__(self, password: str):
        self._expected = f"root:{password}"

        def refuse(request, context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, AUTH_FAILURE)

        self._refusal = grpc.unary_unary_rpc_method_handler(refuse)

    def intercept_service(self, continuation, handler_call_details):
        if decode_credentials(handler_call_details.invocation_metadata) == self._expected:
            return continuation(handler_call_details)
        log.warning("refused %s: no or wrong credentials", handler_call_details.method)
        return self._refusal


class HealthHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.split("?", 1)[0] == "/healthz":
            body = b"OK"
            self.send_response(200)
        else:
            body = b"not found"
            self.send_response(404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # healthchecks every few seconds: stay quiet
        pass


def usage() -> int:
    print("usage: milvus run standalone", file=sys.stderr)
    return 2


def main(argv: list[str]) -> int:
    if argv and argv != ["run", "standalone"]:
        return usage()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s [%(name)s] %(message)s")

    data_dir = os.environ.get("MILVUS_LITE_DATA_DIR", "/var/lib/milvus/lite")
    grpc_port = int(os.environ.get("MILVUS_LITE_GRPC_PORT", "19530"))
    http_port = int(os.environ.get("MILVUS_LITE_HTTP_PORT", "9091"))
    auth = truthy(os.environ.get("common.security.authorizationEnabled", "false"))
    password = os.environ.get("common.security.defaultRootPassword", "Milvus")

    os.makedirs(data_dir, exist_ok=True)
    db = MilvusLite(data_dir)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=10),
        interceptors=[RootPasswordInterceptor(password)] if auth else [],
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_SIZE),
            ("grpc.max_send_message_length", MAX_MESSAGE_SIZE),
        ],
    )
    milvus_pb2_grpc.add_MilvusServiceServicer_to_server(MilvusServicer(db), server)
    server.add_insecure_port(f"0.0.0.0:{grpc_port}")
    server.start()

    health = ThreadingHTTPServer(("0.0.0.0", http_port), HealthHandler)
    threading.Thread(target=health.serve_forever, daemon=True).start()

    log.info(
        "Milvus Lite serving the Milvus protocol on 0.0.0.0:%d (data %s, authorization %s), "
        "/healthz on 0.0.0.0:%d",
        grpc_port, data_dir, "enabled, user root" if auth else "disabled", http_port,
    )
    # docker stop: finish in-flight calls and close the data files cleanly.
    signal.signal(signal.SIGTERM, lambda signum, frame: server.stop(grace=2))
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop(grace=2)
        health.shutdown()
        db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
