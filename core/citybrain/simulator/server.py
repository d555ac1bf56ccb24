"""Run the simulator with uvicorn in a background thread (tests, benchmarks) or in the foreground (CLI)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import httpx
import uvicorn

from core.citybrain.simulator.app import SimulatorState, create_simulator_app


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class SimulatorServer:
    """The simulator on ``host:port`` in a daemon thread; :meth:`stop` and :meth:`start` again keep the state.

    Use as a context manager: ``with SimulatorServer(SimulatorState(seed=3)) as sim: sim.url``.
    """

    def __init__(self, state: SimulatorState | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve ``state`` (a new one by default) on ``port`` (a free one when 0)."""
        self.state = state or SimulatorState()
        self.host = host
        self.port = port or free_port(host)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The simulator's base URL."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> SimulatorServer:
        """Start serving and wait until ``/health`` answers."""
        config = uvicorn.Config(
            create_simulator_app(self.state),
            host=self.host,
            port=self.port,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=f"citybrain-sim-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._thread.is_alive():
                raise RuntimeError(f"the City Brain simulator did not start on {self.url}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError(f"the City Brain simulator did not answer on {self.url} within {timeout} s")

    def stop(self) -> None:
        """Stop serving (connections are closed); the state is kept for a later :meth:`start`."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def set_faults(self, **changes: Any) -> dict[str, Any]:
        """Switch faults over HTTP, as an operator would (``PUT /_sim/faults``)."""
        response = httpx.put(self.url + "/_sim/faults", json=changes, timeout=5)
        response.raise_for_status()
        return dict(response.json())

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def serve(state: SimulatorState, host: str, port: int) -> None:
    """Serve the simulator in the foreground until interrupted."""
    uvicorn.run(create_simulator_app(state), host=host, port=port, log_config=None, access_log=False, lifespan="off")
