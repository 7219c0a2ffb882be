"""The gateway's one launcher: uvicorn with the connection limits of the settings, the same
for `make run`, Docker Compose, Kubernetes and the tests.

    python -m services.gateway.serve [--host 0.0.0.0] [--port 8000]

Each connection is served by services.gateway.connections (head and body deadlines, a cap
per client address); uvicorn closes idle kept-alive connections after CATALOG_KEEP_ALIVE_S,
answers 503 past CATALOG_MAX_CONNECTIONS, and refuses a head over CATALOG_MAX_HEADER_KB.
"""

from __future__ import annotations

import argparse

import uvicorn

from services.gateway.connections import BoundedH11Protocol
from shared.infra.settings import settings


def main(argv: list[str] | None = None) -> None:
    s = settings()
    parser = argparse.ArgumentParser(prog="python -m services.gateway.serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=s.port, help="port (default CATALOG_PORT, 8000)")
    args = parser.parse_args(argv)
    uvicorn.run(
        "services.gateway.app:app",
        host=args.host,
        port=args.port,
        http=BoundedH11Protocol,
        timeout_keep_alive=s.keep_alive_s,
        limit_concurrency=s.max_connections,
        h11_max_incomplete_event_size=s.max_header_kb * 1024,
    )


if __name__ == "__main__":
    main()
