"""Byte-level terminal for one CLI connection: echo, line editing, masked input, single keys."""

IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240


class Disconnected(Exception):
    """The peer went away (or the switch dropped the connection)."""


class Terminal:
    """Wraps a channel (paramiko Channel or socket) that has recv(n)/sendall(data)/close()."""

    def __init__(self, channel, telnet=False):
        self.channel = channel
        self.telnet = telnet
        self.pending = bytearray()
        self.last_cr = False
        self.closed = False

    # ---- low level ----------------------------------------------------------------------------
    def write(self, text):
        if self.closed:
            raise Disconnected()
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        if self.telnet:
            data = data.replace(b"\xff", b"\xff\xff")
        try:
            self.channel.sendall(data)
        except (OSError, EOFError) as exc:
            self.closed = True
            raise Disconnected() from exc

    def write_raw(self, data):
        """Protocol bytes (telnet option negotiation), not escaped."""
        try:
            self.channel.sendall(data)
        except (OSError, EOFError) as exc:
            self.closed = True
            raise Disconnected() from exc

    def _fill(self):
        try:
            data = self.channel.recv(1024)
        except (OSError, EOFError) as exc:
            self.closed = True
            raise Disconnected() from exc
        if not data:
            self.closed = True
            raise Disconnected()
        if self.telnet:
            data = self._strip_telnet(data)
        self.pending.extend(data)

    def _strip_telnet(self, data):
        out = bytearray()
        i = 0
        state = getattr(self, "_tstate", None)
        while i < len(data):
            b = data[i]
            if state is None:
                if b == IAC:
                    state = "iac"
                else:
                    out.append(b)
            elif state == "iac":
                if b == IAC:
                    out.append(IAC)
                    state = None
                elif b in (DO, DONT, WILL, WONT):
                    state = ("opt", b)
                elif b == SB:
                    state = "sb"
                else:
                    state = None
            elif state == "sb":
                if b == IAC:
                    state = "sbiac"
            elif state == "sbiac":
                state = None if b == SE else "sb"
            else:  # option byte of DO/DONT/WILL/WONT: accept nothing but what we offered
                state = None
            i += 1
        self._tstate = state
        return bytes(out)

    def getc(self):
        while not self.pending:
            self._fill()
        c = self.pending[0]
        del self.pending[0]
        return c

    # ---- editing --------------------------------------------------------------------------------
    def read_line(self, mask=None, echo=True):
        """Read one line; CR, LF, CRLF and CR NUL all end it. Backspace/DEL edit."""
        buf = []
        while True:
            c = self.getc()
            if c in (0x0A, 0x00) and self.last_cr:
                self.last_cr = False
                continue
            self.last_cr = c == 0x0D
            if c in (0x0D, 0x0A):
                self.write("\r\n")
                return "".join(buf)
            if c in (0x08, 0x7F):
                if buf:
                    buf.pop()
                    if echo:
                        self.write("\b \b")
                continue
            if c == 0x15:  # ^U
                if echo:
                    self.write("\b \b" * len(buf))
                buf = []
                continue
            if c < 0x20 or c == 0x7F:
                continue
            ch = chr(c)
            buf.append(ch)
            if echo:
                self.write(mask if mask else ch)

    def read_key(self):
        """Single-keystroke answer (y/n questions, the pager): echoed, then CRLF."""
        while True:
            c = self.getc()
            if c in (0x0A, 0x00) and self.last_cr:
                self.last_cr = False
                continue
            self.last_cr = c == 0x0D
            return chr(c)

    def close(self):
        self.closed = True
        try:
            self.channel.close()
        except Exception:
            pass
