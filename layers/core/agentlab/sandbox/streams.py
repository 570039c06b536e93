"""Splits a kernel's stdout or stderr into cells at the session marker, keeping at most a cap of bytes per cell."""

from __future__ import annotations


class MarkedStream:
    """Bytes of one output stream, cut into cells where the kernel wrote the marker after each cell.

    Output past the cap is counted, not kept. Up to len(marker) - 1 bytes are held back at each feed, because they
    may be the start of a marker that the next read completes.
    """

    def __init__(self, marker: bytes, cap_bytes: int) -> None:
        self._marker = marker
        self._cap = cap_bytes
        self._kept = bytearray()
        self._omitted = 0
        self._held = b""
        self._completed: list[tuple[bytes, int]] = []
        self.closed = False

    def feed(self, data: bytes) -> None:
        buffer = self._held + data
        while (index := buffer.find(self._marker)) >= 0:
            self._keep(buffer[:index])
            self._completed.append((bytes(self._kept), self._omitted))
            self._kept, self._omitted = bytearray(), 0
            buffer = buffer[index + len(self._marker) :]
        hold = min(len(buffer), len(self._marker) - 1)
        self._keep(buffer[: len(buffer) - hold])
        self._held = buffer[len(buffer) - hold :]

    def begin_cell(self) -> None:
        """Output that came after an earlier cell's marker was awaited (late markers included) joins the new cell."""
        completed, self._completed = self._completed, []
        pending, pending_omitted = bytes(self._kept), self._omitted
        self._kept, self._omitted = bytearray(), 0
        for kept, omitted in completed:
            self._keep(kept)
            self._omitted += omitted
        self._keep(pending)
        self._omitted += pending_omitted

    def close(self) -> None:
        self.closed = True

    @property
    def cell_complete(self) -> bool:
        return bool(self._completed)

    def take_cell(self) -> tuple[bytes, int]:
        """The oldest completed cell's output, or, when none is complete (the kernel died), everything so far."""
        if self._completed:
            return self._completed.pop(0)
        self._keep(self._held)
        taken = (bytes(self._kept), self._omitted)
        self._kept, self._omitted, self._held = bytearray(), 0, b""
        return taken

    def _keep(self, data: bytes) -> None:
        room = self._cap - len(self._kept)
        if room > 0:
            self._kept += data[:room]
        self._omitted += max(0, len(data) - max(room, 0))


def render_output(kept: bytes, omitted: int) -> str:
    text = kept.decode("utf-8", errors="replace")
    if omitted:
        text += f"\n[output truncated: {omitted} bytes omitted]"
    return text
