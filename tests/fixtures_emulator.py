"""Fixtures that serve the Pocket API emulator on a real loopback socket."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mirror.emulator import Emulator

EmulatorFactory = Callable[..., Emulator]

TEST_ORG = "org_test"
TEST_TOKEN = "pk_test_token"
TEST_SEED = 7


@pytest.fixture
def make_emulator() -> Iterator[EmulatorFactory]:
    """A factory of started emulators, all stopped after the test.

    Keyword arguments go to :class:`Emulator`; the defaults are the test
    organization and token, role admin and seed 7, with no recordings.
    """
    started: list[Emulator] = []

    def make(**kwargs: Any) -> Emulator:
        options: dict[str, Any] = {
            "org_id": TEST_ORG,
            "token": TEST_TOKEN,
            "role": "admin",
            "seed": TEST_SEED,
        }
        options.update(kwargs)
        emulator = Emulator(**options)
        emulator.start()
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        emulator.stop()


@pytest.fixture
def emulator(make_emulator: EmulatorFactory) -> Emulator:
    """A started emulator of the test organization, with no recordings."""
    return make_emulator()
