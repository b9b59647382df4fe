"""Test-wide setup: gevent's monkey patch first, as Locust applies it on import anyway."""

from gevent import monkey

monkey.patch_all()


from collections.abc import Callable, Iterator  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

from qi_load.generate.chat import ChatClient, ChatConfig  # noqa: E402


@pytest.fixture
def client() -> Iterator[Callable[..., ChatClient]]:
    """``client(url, **config)`` makes chat clients that are all closed after the test."""
    made: list[ChatClient] = []

    def make(url: str, **kw: Any) -> ChatClient:
        made.append(ChatClient(ChatConfig(base_url=url, **kw)))
        return made[-1]

    try:
        yield make
    finally:
        for c in made:
            c.close()
