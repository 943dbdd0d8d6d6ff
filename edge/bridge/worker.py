"""One task per serial line: polls its devices in turn and runs port commands between polls.

All serial I/O happens in worker threads (`asyncio.to_thread`); the line's task issues one call
at a time, so there is never more than one request on the wire. Commands jump the queue of
polls: a cut-off waits at most for the request in flight.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from edge.bridge.availability import PostAvailability
from edge.bridge.const import (
    JSONL_CONFIRM_TIMEOUT_S,
    JSONL_READ_WINDOW_S,
    MAX_PENDING_COMMANDS,
    PORT_GONE_PAUSE_S,
    UNEXPECTED_ERROR_PAUSE_S,
)
from edge.bridge.messages import PortCommand
from edge.bridge.schedule import PollSchedule
from firmware_bridge import (
    BridgeError,
    DeviceReading,
    FaultCounters,
    FaultReason,
    JsonLinesBoard,
    ModbusBus,
    ModbusDevice,
    PortGoneError,
)

__all__ = ["JsonLinesWorker", "LineWorker", "ModbusWorker", "ReadingSink"]

logger = logging.getLogger(__name__)


class ReadingSink(Protocol):
    """Where a line's results go (the runner publishes them on MQTT)."""

    def reading(self, reading: DeviceReading, *, confirm: bool) -> None:
        """A good reading; `confirm` = taken right after a port command."""

    def availability(self, post: str, online: bool) -> None:
        """A post went online or offline."""


@dataclass(frozen=True, slots=True)
class _Pending:
    index: int
    command: PortCommand


class LineWorker:
    """Common part of a line's task: the command queue, outcome bookkeeping, never crashing."""

    def __init__(self, name: str, sink: ReadingSink, availability: PostAvailability,
                 counters: FaultCounters) -> None:
        """Store the collaborators; nothing runs before `run()`."""
        self.name = name
        self._sink = sink
        self._availability = availability
        self.counters = counters
        self._commands: deque[_Pending] = deque()
        self._wake: asyncio.Event | None = None
        self.polls = 0
        self.failed_polls = 0

    def submit(self, index: int, command: PortCommand) -> bool:
        """Queue a port command for device `index`; False (counted) when the queue is full."""
        if len(self._commands) >= MAX_PENDING_COMMANDS:
            self.counters.record(self.name, FaultReason.RELAY_MISMATCH,
                                 f"command {command.request_id} refused: "
                                 f"{len(self._commands)} commands already waiting")
            return False
        self._commands.append(_Pending(index, command))
        if self._wake is not None:
            self._wake.set()
        return True

    async def run(self) -> None:
        """Serve the line until cancelled; an unexpected error rests the line, never ends it."""
        self._wake = asyncio.Event()
        while True:
            try:
                await self._step()
            except asyncio.CancelledError:
                raise
            except Exception as err:
                self.counters.record(self.name, FaultReason.FRAME,
                                     f"unexpected {type(err).__name__}: {err}")
                logger.debug("line %s: unexpected error", self.name, exc_info=True)
                await asyncio.sleep(UNEXPECTED_ERROR_PAUSE_S)

    async def close(self) -> None:
        """Close the serial port (waits for a request in flight)."""
        raise NotImplementedError

    async def _step(self) -> None:
        raise NotImplementedError

    async def _sleep_or_command(self, seconds: float) -> None:
        assert self._wake is not None
        if seconds <= 0 or self._commands:
            return
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            return

    def _outcome(self, device: str, ok: bool) -> None:
        self.polls += 1
        if not ok:
            self.failed_polls += 1
        change = (self._availability.success(device) if ok
                  else self._availability.failure(device))
        if change is not None:
            post, online = change
            logger.log(logging.INFO if online else logging.WARNING, "post %s is %s (device %s)",
                       post, "online" if online else "offline", device)
            self._sink.availability(post, online)

    @staticmethod
    def _log_command(source: str, command: PortCommand, ok: bool | None) -> None:
        action = "on" if command.on else "off"
        if ok:
            logger.info("%s: post %s port %d %s done (command %s, %s)", source, command.post,
                        command.port, action, command.request_id, command.reason or "-")
        else:
            logger.warning("%s: post %s port %d %s NOT confirmed (command %s)", source,
                           command.post, command.port, action, command.request_id)


class ModbusWorker(LineWorker):
    """A Modbus RTU line: its devices polled in turn by their intervals, commands first."""

    def __init__(self, name: str, bus: ModbusBus, devices: Sequence[ModbusDevice],
                 intervals_s: Sequence[float], sink: ReadingSink,
                 availability: PostAvailability) -> None:
        """Store the line and its devices (device names are the availability keys)."""
        super().__init__(name, sink, availability, bus.counters)
        self.bus = bus
        self.devices = list(devices)
        self._intervals = list(intervals_s)
        self._schedule: PollSchedule | None = None

    async def close(self) -> None:
        """Close the serial port."""
        await asyncio.to_thread(self.bus.close)

    async def _step(self) -> None:
        loop = asyncio.get_running_loop()
        if self._schedule is None:
            self._schedule = PollSchedule(self._intervals, loop.time())
        if self._commands:
            await self._execute(self._commands.popleft())
            return
        index, due = self._schedule.next()
        wait = due - loop.time()
        if wait > 0:
            await self._sleep_or_command(wait)
            return
        await self._poll(index)
        self._schedule.done(index, loop.time())

    async def _poll(self, index: int, *, confirm: bool = False) -> None:
        device = self.devices[index]
        try:
            reading = await asyncio.to_thread(self.bus.poll, device)
        except BridgeError:
            # Counted and logged (rate-limited) by the library; nothing of this poll is kept.
            self._outcome(device.name, ok=False)
            return
        self._outcome(device.name, ok=True)
        self._sink.reading(reading, confirm=confirm)

    async def _execute(self, pending: _Pending) -> None:
        device = self.devices[pending.index]
        command = pending.command
        ok: bool | None
        try:
            ok = await asyncio.to_thread(self.bus.set_relay, device, command.port, command.on)
        except BridgeError as err:
            ok = None
            logger.warning("%s: command %s (port %d %s) failed: %s", device.name,
                           command.request_id, command.port, "on" if command.on else "off", err)
        self._log_command(device.name, command, ok)
        # The daemon confirms a cut-off from telemetry: read the device again at once.
        await self._poll(pending.index, confirm=True)


class JsonLinesWorker(LineWorker):
    """A DIY board that prints telemetry lines by itself; silent for an interval = a failed poll."""

    def __init__(self, name: str, board: JsonLinesBoard, interval_s: float, sink: ReadingSink,
                 availability: PostAvailability) -> None:
        """Store the board (its name is the availability key)."""
        super().__init__(name, sink, availability, board.counters)
        self.board = board
        self._interval_s = interval_s
        self._mark: float | None = None

    async def close(self) -> None:
        """Close the serial port."""
        await asyncio.to_thread(self.board.close)

    async def _step(self) -> None:
        loop = asyncio.get_running_loop()
        if self._mark is None:
            self._mark = loop.time()
        if self._commands:
            await self._execute(self._commands.popleft())
            return
        try:
            readings = await asyncio.to_thread(self.board.read_readings, JSONL_READ_WINDOW_S)
        except PortGoneError:
            readings = []
            await self._sleep_or_command(PORT_GONE_PAUSE_S)
        now = loop.time()
        if readings:
            self._mark = now
            self._outcome(self.board.name, ok=True)
            for reading in readings:
                self._sink.reading(reading, confirm=False)
        elif now - self._mark >= self._interval_s:
            self._mark = now
            self._outcome(self.board.name, ok=False)

    async def _execute(self, pending: _Pending) -> None:
        command = pending.command
        ok: bool | None
        try:
            ok = await asyncio.to_thread(self.board.set_relay, command.port, command.on,
                                         JSONL_CONFIRM_TIMEOUT_S)
            # The lines that arrived while waiting (the confirming one among them) go out now.
            readings = await asyncio.to_thread(self.board.read_readings, 0)
        except BridgeError as err:
            ok, readings = None, []
            logger.warning("%s: command %s (port %d) failed: %s", self.board.name,
                           command.request_id, command.port, err)
        self._log_command(self.board.name, command, ok)
        for reading in readings:
            self._sink.reading(reading, confirm=True)
        if readings:
            self._mark = asyncio.get_running_loop().time()
            self._outcome(self.board.name, ok=True)
