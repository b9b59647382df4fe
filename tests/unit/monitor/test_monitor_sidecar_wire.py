"""Sidecar wire format, publisher buffering and `qi-load monitor` input errors."""

from __future__ import annotations

import pytest
import zmq

from qi_load.cli import main
from qi_load.monitor.sidecar import (
    SampleBatchError,
    SamplePublisher,
    SampleReceiver,
    decode_batch,
    encode_batch,
)
from qi_load.record.ingest_key import INGEST_KEY_ENV
from qi_load.record.schema import HostSample


def _sample(i: int) -> HostSample:
    return HostSample(ts=1000.0 + i, host="h", role="sut", pid=7, cpu_percent=1.5, rss_bytes=i)


def test_round_trip_and_bad_messages() -> None:
    batch = [_sample(1), _sample(2)]
    assert decode_batch(encode_batch(batch)) == batch
    for bad in (b"not json", b'{"v": 2, "samples": []}', b'{"v": 1, "samples": [{"x": 1}]}'):
        with pytest.raises(SampleBatchError):
            decode_batch(bad)


def test_publisher_keeps_the_newest_samples_while_nobody_listens() -> None:
    with zmq.Context() as ctx, ctx.socket(zmq.PULL) as probe:
        port = probe.bind_to_random_port("tcp://127.0.0.1")
    # The port is free again: nobody listens there. The refused connection is retried after
    # 20 ms instead of 200: the retry is ZeroMQ's, the buffering under test is the same.
    publisher = SamplePublisher(f"tcp://127.0.0.1:{port}", buffer=3, reconnect_ms=20)
    try:
        publisher.publish([_sample(i) for i in range(5)])
        assert publisher.buffered == 3 and publisher.dropped == 2 and publisher.delivered == 0
        receiver = SampleReceiver(f"tcp://127.0.0.1:{port}")
        try:
            got: list[HostSample] = []
            for _ in range(500):  # up to 5 s, flushing as soon as the retry may have connected
                publisher.flush()
                got += receiver.recv(10)
                if got:
                    break
            assert [s.rss_bytes for s in got] == [2, 3, 4]
            assert publisher.buffered == 0 and publisher.delivered == 3
        finally:
            receiver.close()
    finally:
        publisher.close()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--connect", "tcp://127.0.0.1:1"], "nothing to watch"),
        (["--pid", "1", "--connect", "tcp://127.0.0.1:1", "--", "true"], "not both"),
        (["--pid", "1", "--connect", "127.0.0.1:1"], "expected tcp://HOST:PORT"),
        (["--pid", "1", "--connect", "tcp://:5558"], "expected tcp://HOST:PORT"),
        (["--pid", "1", "--connect", "tcp://h:0"], "expected tcp://HOST:PORT"),
        (["--pid", "1", "--connect", "tcp://h:99999"], "expected tcp://HOST:PORT"),
        (["--pid", "1", "--connect", "tcp://h:x"], "expected tcp://HOST:PORT"),
        (["--pid", "1", "--connect", "tcp://h:1", "--interval", "0"], "--interval 0"),
        (["--pid", "1", "--connect", "tcp://h:1", "--buffer", "0"], "--buffer 0"),
        (["--pid", "999999999", "--connect", "tcp://h:1"], "--pid 999999999: no such process"),
    ],
)
def test_monitor_input_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["monitor", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("qi-load monitor: error:")


def test_run_sidecar_keeps_resolving_names_until_found() -> None:
    import os
    import threading

    import gevent

    from qi_load.monitor.sidecar import run_sidecar

    receiver = SampleReceiver("tcp://127.0.0.1:0")
    calls: list[int] = []

    def resolve() -> list[int]:
        calls.append(1)
        return [] if len(calls) < 3 else [os.getpid()]

    stop = threading.Event()
    try:
        job = gevent.spawn(
            run_sidecar,
            connect=receiver.endpoint,
            interval=0.005,  # ticks are what is counted here, not their spacing
            role="target",
            resolve=resolve,
            stop=stop,
            keep_resolving=True,
        )
        got: list[HostSample] = []
        for _ in range(600):  # up to 3 s
            gevent.sleep(0.005)  # plain zmq's poll would block the sidecar's greenlet
            got += receiver.recv(0)
            if len(got) >= 3:
                break
        stop.set()
        publisher = job.get(timeout=5)
    finally:
        receiver.close()
    assert len(calls) >= 3 and {(s.pid, s.role) for s in got} == {(os.getpid(), "target")}
    assert publisher.delivered >= 3 and publisher.dropped == 0


def test_a_keyed_receiver_hears_only_senders_with_its_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = b"s" * 32
    receiver = SampleReceiver("tcp://127.0.0.1:0", key=key)
    publishers = [
        SamplePublisher(receiver.endpoint, key=key),
        SamplePublisher(receiver.endpoint),
        SamplePublisher(receiver.endpoint, key=b"t" * 32),
    ]
    try:
        got: list[HostSample] = []
        for _ in range(500):  # 5 s at most; refused handshakes are counted between polls
            for i, publisher in enumerate(publishers):
                publisher.publish([_sample(i)])
            got += receiver.recv(10)
            if receiver.gate.drops.counts["unauthenticated"] >= 2 and got:
                break
        assert {s.rss_bytes for s in got} == {0}
        assert set(receiver.gate.drops.as_dict()) == {"unauthenticated"}
        monkeypatch.setenv(INGEST_KEY_ENV, "short")
        assert main(["monitor", "--pid", "1", "--connect", "tcp://h:1"]) == 2
    finally:
        for publisher in publishers:
            publisher.close()
        receiver.close()
