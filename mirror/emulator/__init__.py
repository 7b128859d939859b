"""An emulator of the Pocket organization API, served on a loopback socket.

The real service cannot be reached from the project's tests, so this package
stands in for it, with a switch for every behaviour the published reference
leaves open. See :class:`Emulator` for the interface and
:mod:`mirror.emulator.render` for how recordings are turned into payloads.
"""

from __future__ import annotations

from mirror.emulator.behaviour import Behaviour, Fault
from mirror.emulator.emulator import DROPPED, Emulator, RequestLog, serve
from mirror.emulator.records import (
    EmulatedRecording,
    Recorder,
    Segment,
    TagRef,
    format_timestamp,
)

__all__ = [
    "DROPPED",
    "Behaviour",
    "EmulatedRecording",
    "Emulator",
    "Fault",
    "Recorder",
    "RequestLog",
    "Segment",
    "TagRef",
    "format_timestamp",
    "serve",
]
