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
from typing import Any, Final

import psutil
import zmq
from zmq.utils.monitor import recv_monitor_message

from qi_load.monitor.curve import secure_client, secure_server
from qi_load.monitor.hostmon import HostProbe, ProcessSampler
from qi_load.monitor.sample_gate import MAX_BATCH, IngestLimits, SampleGate
from qi_load.record.schema import HostSample
from qi_load.record.wire_check import WireError, checked_host_sample
from qi_load.vocabulary import Role

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
_HANDSHAKE_FAILED: Final = (
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
)


class SampleBatchError(ValueError):
    """A message on the sample port that is not a batch of host samples."""


def encode_batch(samples: Iterable[HostSample]) -> bytes:
    return json.dumps({"v": _WIRE_VERSION, "samples": [s.to_wire() for s in samples]}).encode()


def decode_batch(payload: bytes) -> list[HostSample]:
    """The batch's samples, or ``SampleBatchError``: one bad sample refuses the message."""
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise SampleBatchError(f"not JSON: {str(exc)[:80]}") from None
    if not isinstance(data, dict) or data.get("v") != _WIRE_VERSION:
        version = data.get("v") if isinstance(data, dict) else None
        raise SampleBatchError(f"unsupported sample batch version {str(version)[:20]!r}")
    items = data.get("samples")
    if not isinstance(items, list) or len(items) > MAX_BATCH:
        raise SampleBatchError(f"'samples' must be a list of at most {MAX_BATCH}")
    try:
        return [checked_host_sample(item) for item in items]
    except WireError as exc:
        raise SampleBatchError(str(exc)) from None


class SamplePublisher:
    """PUSH side: never blocks, keeps at most ``buffer`` samples while nobody listens.

    ``IMMEDIATE`` makes ZeroMQ refuse (instead of silently queue) messages while no master
    is connected, so the bounded deque is the only buffer; it reconnects on its own within
    a second of the master (re)binding, and heartbeats notice a master that vanished
    without closing its connection. With ``key`` the connection is a CURVE client:
    authenticated and encrypted (``monitor/curve.py``). ``reconnect_ms`` is the first retry's
    delay after a refused connection (it doubles up to a second).
    """

    def __init__(
        self,
        connect: str,
        *,
        buffer: int = DEFAULT_BUFFER,
        key: bytes | None = None,
        reconnect_ms: int = 200,
        zmq_module: ModuleType = zmq,
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
            (zmq.RECONNECT_IVL, reconnect_ms),
            (zmq.RECONNECT_IVL_MAX, 1000),
            (zmq.HEARTBEAT_IVL, 1000),
            (zmq.HEARTBEAT_TIMEOUT, 3000),
        ):
            self._socket.setsockopt(option, value)
        if key is not None:
            secure_client(self._socket, key)
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
            count = min(MAX_BATCH, len(self._buffer))
            payload = encode_batch(self._buffer[i] for i in range(count))
            while len(payload) > _MESSAGE_BUDGET and count > 1:  # long process names
                count //= 2
                payload = encode_batch(self._buffer[i] for i in range(count))
            try:
                self._socket.send(payload, zmq.NOBLOCK)
            except zmq.Again:
                if not self._stalled:
                    log.warning(
                        "master %s unreachable: buffering up to %d samples",
                        self.connect,
                        self._buffer.maxlen,
                    )
                    self._stalled = True
                return
            for _ in range(count):
                self._buffer.popleft()
            self.delivered += count
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


_MESSAGE_BUDGET: Final = IngestLimits().max_message_bytes // 2
"""The publisher's own size limit: half the receiver's, whatever the batch holds."""


class SampleReceiver:
    """PULL side, bound on the master; pass ``zmq.green`` as ``zmq_module`` inside Locust.

    Everything that arrives is untrusted. With ``key`` the socket is a CURVE server: a
    sender without the key fails the handshake (counted as ``unauthenticated``) before it
    can queue anything. ``ZMQ_MAXMSGSIZE`` disconnects a sender of an oversized frame
    before it is buffered; at most ``max_messages_per_s`` messages are decoded per second
    (the rest wait in ZeroMQ, which pushes back on their senders); a message of several
    frames or with one bad sample is dropped and counted in ``gate.drops``; and ``gate``
    caps series and per-series rates.
    """

    def __init__(
        self,
        bind: str,
        *,
        key: bytes | None = None,
        gate: SampleGate | None = None,
        zmq_module: ModuleType = zmq,
    ) -> None:
        self.gate = gate or SampleGate()
        self._context = zmq_module.Context()
        self._socket = self._context.socket(zmq.PULL)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.RCVHWM, 16)
        self._socket.setsockopt(zmq.MAXMSGSIZE, self.gate.limits.max_message_bytes)
        self._handshakes: Any = None
        if key is not None:
            secure_server(self._socket, key)
            self._handshakes = self._socket.get_monitor_socket(_HANDSHAKE_FAILED)
        try:
            self._socket.bind(bind)
        except zmq.ZMQError:
            self.close()
            raise
        self.endpoint: str = self._socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self._window_start = time.monotonic()
        self._window_count = 0

    @property
    def port(self) -> int:
        return int(self.endpoint.rsplit(":", 1)[1])

    def recv(self, timeout_ms: int) -> list[HostSample]:
        """Admitted samples of the batches waiting, or of the first to arrive in ``timeout_ms``."""
        samples: list[HostSample] = []
        self._count_refused()
        if not self._budget_left():
            remaining = 1.0 - (time.monotonic() - self._window_start)
            time.sleep(max(0.0, min(timeout_ms / 1000, remaining)))  # gevent's, in Locust
            return samples
        if not self._socket.poll(timeout_ms):
            return samples
        while self._budget_left():
            try:
                frames = self._socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            self._window_count += 1
            samples += self._decode(frames)
            time.sleep(0)  # let Locust's other greenlets run between messages
        return self.gate.admit(samples)

    def _budget_left(self) -> bool:
        now = time.monotonic()
        if now - self._window_start >= 1.0:
            self._window_start, self._window_count = now, 0
        return self._window_count < self.gate.limits.max_messages_per_s

    def _decode(self, frames: list[bytes]) -> list[HostSample]:
        if len(frames) != 1:
            self.gate.drops.drop("malformed", f"{len(frames)} frames")
            return []
        try:
            return decode_batch(frames[0])
        except SampleBatchError as exc:
            self.gate.drops.drop("invalid", str(exc))
            return []

    def _count_refused(self) -> None:
        while self._handshakes is not None and self._handshakes.poll(0):
            event = recv_monitor_message(self._handshakes)
            self.gate.drops.drop(
                "unauthenticated", f"a sender without the key ({event['endpoint']!r})"
            )

    def close(self) -> None:
        if self._handshakes is not None:
            self._socket.disable_monitor()
            self._handshakes.close()
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
    key: bytes | None = None,
) -> SamplePublisher:
    """Sample the processes ``resolve()`` names every ``interval`` s and push them until ``stop``.

    Processes that exit are dropped; the loop ends when none is left, unless
    ``keep_resolving`` (``--name``), which looks for new matches every tick instead.
    """
    host = host or socket.gethostname()
    probe = HostProbe()
    publisher = SamplePublisher(connect, buffer=buffer, key=key)
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
