"""An embedded MQTT broker for the demo: amqtt (pure Python, from PyPI) in a child process.

amqtt 0.12 speaks MQTT 3.1.1 only, runs at about a sixth of mosquitto's throughput and never
queues for offline anonymous sessions (docs/architecture.md): good for a demo on a
machine without mosquitto, not for production.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import subprocess
import sys
import time

__all__ = ["EmbeddedBroker", "free_port", "stop_process", "wait_for_port"]

logger = logging.getLogger(__name__)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(process: subprocess.Popen[bytes], grace_s: float = 5.0) -> None:
    """Ask a child to stop (SIGTERM); kill it if it has not gone after ``grace_s``."""
    process.terminate()
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_for_port(port: int, timeout: float = 10.0) -> bool:
    """Wait until something accepts TCP connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return True
        time.sleep(0.05)
    return False


class EmbeddedBroker:
    """amqtt on 127.0.0.1:port in a child process; ``with EmbeddedBroker() as b: b.port``."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        self._process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            [sys.executable, "-m", "edge.sim.broker", "--port", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            # Its own session: Ctrl-C in the terminal goes to the demo, which stops the daemon
            # and the simulators first and the broker last. A broker killed first publishes
            # every post's will, and the daemon pages "post offline" on its way out.
            start_new_session=True)
        if not wait_for_port(self.port):
            self.stop()
            msg = f"the embedded MQTT broker did not start on port {self.port}"
            raise RuntimeError(msg)

    def stop(self) -> None:
        """Stop the broker (idempotent)."""
        if self._process is not None:
            stop_process(self._process)
            self._process = None

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


async def _serve(port: int) -> None:
    from amqtt.broker import Broker  # noqa: PLC0415 - only the child process needs amqtt

    broker = Broker({
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    })
    await broker.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await broker.shutdown()


def main() -> None:
    """Entry point of the child process."""
    parser = argparse.ArgumentParser(description="embedded amqtt broker for the gridedge demo")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_serve(args.port))


if __name__ == "__main__":
    main()
