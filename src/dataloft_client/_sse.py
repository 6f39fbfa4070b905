"""An incremental parser of Server-Sent Events (the WHATWG "event stream" format): bytes go
in as they arrive, in chunks cut anywhere (inside a line, inside a UTF-8 character),
and whole messages come out.

Lines end in CR LF, LF or CR; a line starting with ``:`` is a comment (the server's
keep-alives); ``field: value`` lines build a message, which a blank line dispatches.
``data`` lines join with LF; ``id`` is remembered across messages, as EventSource does.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class Message:
    event: str  # "message" when the stream did not say
    data: str
    id: str | None


class SSEParser:
    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""  # text after the last line ending seen
        self._cr = False  # the last chunk ended in CR: a LF next is part of that ending
        self._first = True
        self._event = ""
        self._data: list[str] = []
        self.last_id: str | None = None

    def feed(self, chunk: bytes) -> list[Message]:
        text = self._decoder.decode(chunk)
        if self._first and text:
            text = text.removeprefix("\ufeff")
            self._first = False
        if self._cr and text.startswith("\n"):
            text = text[1:]
        self._cr = text.endswith("\r")
        # Not str.splitlines: it also splits at U+2028, form feeds and more, which JSON
        # may hold unescaped in a data line.
        lines = _LINE_END.split(self._pending + text)
        self._pending = lines.pop()  # the start of a line whose end has not come yet
        messages = []
        for line in lines:
            message = self._line(line)
            if message is not None:
                messages.append(message)
        return messages

    def _line(self, line: str) -> Message | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self.last_id = value
        return None

    def _dispatch(self) -> Message | None:
        event, data = self._event or "message", self._data
        self._event, self._data = "", []
        if not data:
            return None
        return Message(event, "\n".join(data), self.last_id)
