"""The whole Catalog on one machine without Docker: redis-server, the gateway and one Celery
worker per queue (the four stages and the webhook calls), each a child process of this one
(segment's with two processes).

    python -m catalog.local_cluster [--data DIR] [-- COMMAND...]

Redis is the `redis-server` on PATH, on a free loopback port, with its data in DIR/redis
(append-only file on, so accepted jobs survive a restart); when CATALOG_REDIS_URL is set,
that Redis is used and none is started. The gateway listens on 127.0.0.1:$CATALOG_PORT
(8000). Blobs go to DIR/blobs unless CATALOG_STORAGE_URL says otherwise; logs to
DIR/logs/<name>.log. Once the gateway is ready and every worker answers a ping, this waits
for Ctrl-C or SIGTERM, or runs COMMAND with CATALOG_URL set and stops when it exits (with
its exit code). A child that dies once the cluster runs is started again with backoff,
and the reason goes to stderr; the cluster stops only when asked. Any way it ends, every
child is stopped: SIGTERM (workers finish their task), then SIGKILL to the child's
process group after a grace period.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from shared.engine.chain import QUEUES, WEBHOOK_QUEUE

PROJECT = Path(__file__).resolve().parents[1]
GRACE_S = 30.0  # a worker's warm shutdown: long enough for one running stage on a CPU
MAX_BACKOFF_S = 30.0  # the longest pause before a dead child is started again
STEADY_S = 60.0  # a child up this long has recovered: its next restart comes after 1 s
# Matting is most of a photo's time. Two segment processes sharing the cores (each with
# half of them, OpenVINO's pinning off) keep both cores busy where one process leaves
# them idle between photos (bench/cluster_bench.py). CATALOG_SEGMENT_PROCESSES.
SEGMENT_PROCESSES = 2


class Stop(BaseException):
    """A signal asked us to stop (BaseException: no `except Exception` swallows it)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Failed(Exception):
    """The cluster cannot run; the message says why."""


def die_with_parent() -> None:
    """In a child about to exec: SIGTERM from Linux when this process dies, however it dies."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pool_options(queue: str, processes: int = 1) -> list[str]:
    """How the worker of a queue runs its tasks: a stage's in `processes` processes; the
    webhook calls, which mostly wait on their receivers, in threads (as many as
    CATALOG_WEBHOOK_CONCURRENCY: services/webhooks/tasks.py)."""
    if queue == WEBHOOK_QUEUE:
        return ["--pool", "threads"]
    return ["--pool", "prefork", "--concurrency", str(processes)]


def _port_taken(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


class LocalCluster:
    def __init__(self, data: Path, port: int, segment_processes: int = SEGMENT_PROCESSES):
        self.data, self.port = data, port
        self.segment_processes = segment_processes
        self.logs = data / "logs"
        self.url = f"http://127.0.0.1:{port}"
        self.children: dict[str, subprocess.Popen] = {}
        self.argv: dict[str, list[str]] = {}
        self.child_env: dict[str, dict[str, str] | None] = {}
        self.restarts: dict[str, int] = {}  # restarts in a row, for the backoff
        self.restart_at: dict[str, float] = {}  # when a dead child is due to start again
        self.started_at: dict[str, float] = {}
        self.env = {**os.environ, "CATALOG_PORT": str(port)}
        self.env.setdefault("CATALOG_STORAGE_URL", (data / "blobs").as_uri())
        self.env.setdefault("CATALOG_PUBLIC_URL", self.url)

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        """A child in its own session (Ctrl-C in the terminal reaches only us, and killpg
        reaches all it started), logging to logs/<name>.log."""
        self.logs.mkdir(parents=True, exist_ok=True)
        with open(self.logs / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(
                argv,
                cwd=PROJECT,
                env=env or self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        self.children[name], self.argv[name], self.started_at[name] = proc, argv, time.monotonic()
        self.child_env[name] = env
        return proc

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.logs / f"{name}.log"
        text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else []
        return f"--- last lines of {path}:\n" + "\n".join(text)

    def check(self) -> None:
        """While starting: a child that dies means the cluster cannot run."""
        for name, proc in self.children.items():
            if proc.poll() is not None:
                raise Failed(f"{name} {_how_it_ended(proc)}\n{self.log_tail(name)}")

    def supervise(self) -> None:
        """Once running: a child that dies is started again, as a process manager would,
        after a pause that doubles with each restart in a row (1 s to 30 s; a child that
        stayed up a minute starts from 1 s again), and says why on stderr."""
        now = time.monotonic()
        for name, proc in list(self.children.items()):
            if proc.poll() is None:
                if now - self.started_at[name] > STEADY_S:
                    self.restarts[name] = 0
                continue
            if name not in self.restart_at:
                delay = min(MAX_BACKOFF_S, 2.0 ** self.restarts.get(name, 0))
                self.restart_at[name] = now + delay
                print(
                    f"local cluster: {name} {_how_it_ended(proc)}; starting it again in {delay:.0f} s\n"
                    f"{self.log_tail(name, 10)}",
                    file=sys.stderr,
                    flush=True,
                )
            elif now >= self.restart_at[name]:
                del self.restart_at[name]
                self.restarts[name] = self.restarts.get(name, 0) + 1
                self.spawn(name, self.argv[name], self.child_env[name])
                print(
                    f"local cluster: {name} started again (restart {self.restarts[name]} in a row)",
                    file=sys.stderr,
                    flush=True,
                )

    # --- starting ------------------------------------------------------------------------

    def start(self, timeout: float) -> None:
        if _port_taken(self.port):
            raise Failed(
                f"port {self.port} on 127.0.0.1 is in use (another `make run`?): "
                "stop it, or choose another port with CATALOG_PORT"
            )
        if "CATALOG_REDIS_URL" not in os.environ:
            self.env["CATALOG_REDIS_URL"] = self.start_redis()
        redis_url = self.env["CATALOG_REDIS_URL"]
        self.spawn(
            "gateway",
            [
                sys.executable,
                "-m",
                "services.gateway.serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
        )
        for queue in QUEUES:
            processes, env = 1, None
            if queue == "segment" and self.segment_processes > 1:
                processes = self.segment_processes
                threads = str(max(1, (os.cpu_count() or 1) // processes))
                env = {"CATALOG_SEGMENT_THREADS": threads, **self.env}  # the user's setting wins
            self.spawn(
                queue,
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    f"services.{queue}.tasks",
                    "worker",
                    "-Q",
                    queue,
                    *pool_options(queue, processes),
                    "--prefetch-multiplier",
                    "1",
                    "-n",
                    f"{queue}@%h",
                    "--loglevel",
                    "INFO",
                ],
                env,
            )
        self.wait_ready(redis_url, timeout)

    def start_redis(self) -> str:
        server = shutil.which("redis-server")
        if server is None:
            raise Failed(
                "redis-server is not on PATH: install it (apt-get install redis-server, "
                "as scripts/setup.sh does) or point CATALOG_REDIS_URL at a Redis"
            )
        folder = self.data / "redis"
        folder.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.spawn(
            "redis",
            [
                server,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(folder),
                "--appendonly",
                "yes",
                "--save",
                "",
            ],
        )
        import redis

        client = redis.Redis(port=port)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:  # includes BusyLoadingError (AOF replay)
                self.check()
                if time.monotonic() > deadline:
                    raise Failed(f"redis-server did not answer within 30 s\n{self.log_tail('redis')}") from None
                time.sleep(0.1)
        client.close()
        return f"redis://127.0.0.1:{port}/0"

    def wait_ready(self, redis_url: str, timeout: float) -> None:
        """Until /readyz is 200 and a worker of every queue answers a Celery ping."""
        import httpx

        from shared.engine.celery_app import make_app

        control = make_app(redis_url).control
        deadline = time.monotonic() + timeout
        ready, waiting = False, set(QUEUES)
        while True:
            self.check()
            if not ready:
                try:
                    ready = httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
                except httpx.HTTPError:
                    pass
            if waiting:
                answered = {name.split("@")[0] for reply in control.ping(timeout=1.0) or [] for name in reply}
                waiting -= answered
            if ready and not waiting:
                return
            if time.monotonic() > deadline:
                late = (["gateway (/readyz)"] if not ready else []) + sorted(waiting)
                raise Failed(f"not ready after {timeout:.0f} s: {', '.join(late)}; logs in {self.logs}")
            time.sleep(0.5)

    # --- stopping ------------------------------------------------------------------------

    def stop(self, grace: float = GRACE_S) -> None:
        """SIGTERM to the gateway and workers together (workers finish their running task),
        SIGKILL to the process groups of those still there after `grace`; Redis last, so the
        others can still write to it while they stop."""
        for group in ([n for n in self.children if n != "redis"], ["redis"]):
            procs = [self.children[n] for n in group if n in self.children]
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
            deadline = time.monotonic() + grace
            for proc in procs:
                try:
                    proc.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
                try:
                    os.killpg(proc.pid, signal.SIGKILL)  # what is left: the worker's pool child
                except (ProcessLookupError, PermissionError):
                    pass
                proc.wait()


def _how_it_ended(proc: subprocess.Popen) -> str:
    if proc.returncode < 0:
        return f"was killed by {signal.Signals(-proc.returncode).name}"
    return f"exited with code {proc.returncode}"


def _raise_stop(signum, frame) -> None:
    raise Stop(signum)


def run_command(cluster: LocalCluster, command: list[str]) -> int:
    """COMMAND in the foreground with CATALOG_URL set; a signal we get is passed on to it."""
    env = {**cluster.env, "CATALOG_URL": cluster.url}
    proc = subprocess.Popen(command, env=env, preexec_fn=die_with_parent, process_group=0)
    while True:
        try:
            while proc.poll() is None:
                cluster.supervise()
                time.sleep(0.2)
            return proc.returncode
        except Stop as stop:
            proc.send_signal(stop.signum)  # its own process group: Ctrl-C did not reach it
        except Failed:
            proc.terminate()
            proc.wait()
            raise


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = argv[argv.index("--") + 1 :] if "--" in argv else []
    parser = argparse.ArgumentParser(
        prog="python -m catalog.local_cluster",
        description=__doc__.split("\n\n")[0],
        epilog="After --: a command to run against the cluster.",
    )
    parser.add_argument("--data", type=Path, default=PROJECT / "data", help="Redis data, blobs, logs (default: data/)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for the services to be ready")
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)

    cluster = LocalCluster(
        args.data.resolve(),
        int(os.environ.get("CATALOG_PORT", "8000")),
        int(os.environ.get("CATALOG_SEGMENT_PROCESSES", SEGMENT_PROCESSES)),
    )
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_stop)
    code = 0
    try:
        cluster.start(args.timeout)
        print(
            f"Catalog at {cluster.url} — web page, API docs at /docs; Ctrl-C stops (logs in {cluster.logs})", flush=True
        )
        if command:
            code = run_command(cluster, command)
        else:
            while True:
                cluster.supervise()
                time.sleep(0.5)
    except Stop:
        pass
    except Failed as e:
        print(f"local cluster: {e}", file=sys.stderr, flush=True)
        code = 1
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)  # stopping is not to be cut short
        if cluster.children:
            print("stopping the local cluster ...", file=sys.stderr, flush=True)
        cluster.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
