"""Fixtures: a real local SMTP server and a real local HTTP receiver, each on a free port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._support import Mailbox, Receiver, free_port


@pytest.fixture
def smtp() -> Iterator[Mailbox]:
    from aiosmtpd.controller import Controller

    box = Mailbox(free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    yield box
    controller.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()
