"""Host samples over ZeroMQ: the sidecar's PUSH publisher and the master's PULL receiver."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Final

import psutil
import zmq

from qi_load.monitor.hostmon import HostProbe, ProcessSampler
from qi_load.record.schema import HostSample, Role

__all__ = [
    "DEFAULT_BUFFER",
    "SampleBatchError",
    "SamplePublisher",
    "SampleReceiver",
    "decode_batch",
    "encode_batch",
    "run_sidecar",
]

log = logging.getLogger(__name__)

DEFAULT_BUFFER: Final = 3600
"""Samples kept while the master is away: one hour of one process at 1 Hz (~1.5 MB)."""
_WIRE_VERSION: Final = 1
_MAX_BATCH: Final = 500


class SampleBatchError(ValueError):
    """A message on the sample port that is not a batch of host samples."""


def encode_batch(samples: Iterable[HostSample]) -> bytes:
    return json.dumps({"v": _WIRE_VERSION, "samples": [s.to_wire() for s in samples]}).encode()


def decode_batch(payload: bytes) -> list[HostSample]:
    try:
        data = json.loads(payload)
        if data.get("v") != _WIRE_VERSION:
            raise SampleBatchError(f"unsupported sample batch version {data.get('v')!r}")
        return [HostSample.from_wire(item) for item in data["samples"]]
    except SampleBatchError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise SampleBatchError(f"malformed sample batch: {exc}") from exc


class SamplePublisher:
    """PUSH side: never blocks, keeps at most ``buffer`` samples while nobody listens.

    ``IMMEDIATE`` makes ZeroMQ refuse (instead of silently queue) messages while no master
    is connected, so the bounded deque is the only buffer; it reconnects on its own within
    a second of the master (re)binding, and heartbeats notice a master that vanished
    without closing its connection.
    """

    def __init__(
        self, connect: str, *, buffer: int = DEFAULT_BUFFER, zmq_module: ModuleType = zmq
    ) -> None:
        self.connect = connect
        self._buffer: deque[HostSample] = deque(maxlen=buffer)
        self.dropped = 0
        self.delivered = 0
        self._stalled = False
        self._context = zmq_module.Context()
        self._socket = self._context.socket(zmq.PUSH)
        for option, value in (
            (zmq.IMMEDIATE, 1),
            (zmq.SNDHWM, 4),
            (zmq.LINGER, 1000),
            (zmq.RECONNECT_IVL, 200),
            (zmq.RECONNECT_IVL_MAX, 1000),
            (zmq.HEARTBEAT_IVL, 1000),
            (zmq.HEARTBEAT_TIMEOUT, 3000),
        ):
            self._socket.setsockopt(option, value)
        self._socket.connect(connect)

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def publish(self, samples: Iterable[HostSample]) -> None:
        for sample in samples:
            if len(self._buffer) == self._buffer.maxlen:
                self.dropped += 1  # the deque drops the oldest: recent samples matter most
            self._buffer.append(sample)
        self.flush()

    def flush(self) -> None:
        while self._buffer:
            batch = [self._buffer[i] for i in range(min(_MAX_BATCH, len(self._buffer)))]
            try:
                self._socket.send(encode_batch(batch), zmq.NOBLOCK)
            except zmq.Again:
                if not self._stalled:
                    log.warning(
                        "master %s unreachable: buffering up to %d samples",
                        self.connect,
                        self._buffer.maxlen,
                    )
                    self._stalled = True
                return
            for _ in batch:
                self._buffer.popleft()
            self.delivered += len(batch)
            if self._stalled:
                log.warning(
                    "master %s reachable again: sending buffered samples (%d dropped so far)",
                    self.connect,
                    self.dropped,
                )
                self._stalled = False

    def close(self) -> None:
        self._socket.close()
        self._context.term()


class SampleReceiver:
    """PULL side, bound on the master; pass ``zmq.green`` as ``zmq_module`` inside Locust."""

    def __init__(self, bind: str, *, zmq_module: ModuleType = zmq) -> None:
        self._context = zmq_module.Context()
        self._socket = self._context.socket(zmq.PULL)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.RCVHWM, 1000)
        try:
            self._socket.bind(bind)
        except zmq.ZMQError:
            self.close()
            raise
        self.endpoint: str = self._socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self.rejected = 0

    @property
    def port(self) -> int:
        return int(self.endpoint.rsplit(":", 1)[1])

    def recv(self, timeout_ms: int) -> list[HostSample]:
        """Samples of every batch waiting, or of the first to arrive within ``timeout_ms``."""
        samples: list[HostSample] = []
        if not self._socket.poll(timeout_ms):
            return samples
        while True:
            try:
                payload = self._socket.recv(zmq.NOBLOCK)
            except zmq.Again:
                return samples
            try:
                samples += decode_batch(payload)
            except SampleBatchError as exc:
                self.rejected += 1
                log.warning("sample port: dropped a message: %s", exc)

    def close(self) -> None:
        self._socket.close()
        self._context.term()


def run_sidecar(
    *,
    connect: str,
    interval: float,
    role: Role,
    resolve: Callable[[], list[int]],
    stop: threading.Event,
    host: str | None = None,
    buffer: int = DEFAULT_BUFFER,
    keep_resolving: bool = False,
) -> SamplePublisher:
    """Sample the processes ``resolve()`` names every ``interval`` s and push them until ``stop``.

    Processes that exit are dropped; the loop ends when none is left, unless
    ``keep_resolving`` (``--name``), which looks for new matches every tick instead.
    """
    host = host or socket.gethostname()
    probe = HostProbe()
    publisher = SamplePublisher(connect, buffer=buffer)
    samplers = _samplers(resolve(), role, host, probe)
    next_tick = time.monotonic() + interval
    try:
        while not stop.wait(max(0.0, next_tick - time.monotonic())):
            next_tick += interval
            if not samplers and keep_resolving:
                samplers = _samplers(resolve(), role, host, probe)
            reading = probe.read()
            batch = []
            for sampler in list(samplers):
                try:
                    batch.append(sampler.sample(reading))
                except psutil.Error:
                    log.warning("pid %d (%s) is gone", sampler.pid, sampler.name)
                    samplers.remove(sampler)
            publisher.publish(batch)
            if not samplers and not keep_resolving:
                log.warning("no process left to watch")
                break
    finally:
        publisher.flush()
        publisher.close()
    return publisher


def _samplers(pids: list[int], role: Role, host: str, probe: HostProbe) -> list[ProcessSampler]:
    samplers = []
    for pid in pids:
        try:
            samplers.append(ProcessSampler(pid, role, host, probe=probe))
        except psutil.Error as exc:
            log.warning("cannot watch pid %d: %s", pid, exc)
    return samplers
