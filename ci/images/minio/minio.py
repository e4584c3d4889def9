"""`minio server DIR [--address HOST:PORT] [--console-address ADDR]`, served by moto.

Only what Dify's compose uses of MinIO: an S3 endpoint and GET
/minio/health/live (and /ready) answering 200.
"""

import argparse
import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

HEALTH_PATHS = ("/minio/health/live", "/minio/health/ready", "/minio/health/cluster")


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return (host or "0.0.0.0"), int(port)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="minio", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    server = commands.add_parser("server", help="serve S3 (moto, in memory)")
    server.add_argument("dirs", nargs="*", help="data directories (ignored: in memory)")
    server.add_argument("--address", default=":9000")
    server.add_argument("--console-address", default="", help="ignored: no console")
    args = parser.parse_args(argv)

    s3 = DomainDispatcherApplication(create_backend_app)

    def app(environ, start_response):
        if environ.get("PATH_INFO") in HEALTH_PATHS:
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "0")])
            return [b""]
        return s3(environ, start_response)

    host, port = split_address(args.address)
    print(f"S3 (moto, in memory) on {host}:{port}; data directories ignored: {args.dirs}", flush=True)
    run_simple(host, port, app, threaded=True, use_reloader=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
