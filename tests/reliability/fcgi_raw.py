# fcgi_raw.py - a raw FastCGI client for the reliability suite: records
# written byte by byte, so that cases can send what no web server sends
# (nothing at all, half a request, a kept-alive connection left idle).
# SPDX-License-Identifier: MIT
#
# Python 3 standard library only. A Conn is one connection to a worker's
# unix socket path or (host, port); every read has a deadline.

import socket
import struct
import time

VERSION = 1
BEGIN_REQUEST, ABORT_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT, STDERR = 1, 2, 3, 4, 5, 6, 7
RESPONDER = 1
KEEP_CONN = 1


def record(rtype, rid, content=b"", padding=0):
    """One record: the 8-byte header, content, padding."""
    assert len(content) <= 0xFFFF
    return struct.pack(">BBHHBx", VERSION, rtype, rid, len(content), padding) + content + b"\0" * padding


def begin(rid=1, keep=False, role=RESPONDER):
    return record(BEGIN_REQUEST, rid, struct.pack(">HB5x", role, KEEP_CONN if keep else 0))


def _length(n):
    return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)


def encode_params(pairs):
    out = b""
    for k, v in pairs.items():
        k, v = k.encode(), v.encode()
        out += _length(len(k)) + _length(len(v)) + k + v
    return out


def params(pairs, rid=1):
    """The PARAMS stream: records of at most 65535 bytes, then the empty one."""
    body = encode_params(pairs)
    out = b""
    for i in range(0, len(body), 0xFFFF):
        out += record(PARAMS, rid, body[i:i + 0xFFFF])
    return out + record(PARAMS, rid)


def cgi_params(path="/events", query="", method="GET", headers=None):
    p = {"REQUEST_METHOD": method, "QUERY_STRING": query, "SCRIPT_NAME": path,
         "REQUEST_URI": path + ("?" + query if query else ""), "SERVER_PROTOCOL": "HTTP/1.1",
         "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "localhost"}
    for k, v in (headers or {}).items():
        p["HTTP_" + k.upper().replace("-", "_")] = v
    return p


def request_bytes(rid=1, keep=False, **kw):
    """A whole request as a web server sends it: BEGIN_REQUEST, every
    PARAMS record, the end of STDIN."""
    return begin(rid, keep) + params(cgi_params(**kw), rid) + record(STDIN, rid)


class Response:
    def __init__(self):
        self.stdout = b""
        self.ended = False      # END_REQUEST seen
        self.closed = False     # the worker closed the connection

    def status(self):
        head = self.stdout.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        for line in head.split("\r\n"):
            if line.lower().startswith("status:"):
                return int(line.split()[1])
        return 200 if "\r\n\r\n" in self.stdout.decode("latin-1") else None

    def body(self):
        parts = self.stdout.split(b"\r\n\r\n", 1)
        return parts[1] if len(parts) == 2 else b""


class Conn:
    """One FastCGI connection. addr: a unix socket path or (host, port)."""

    def __init__(self, addr, timeout=5.0):
        fam = socket.AF_UNIX if isinstance(addr, str) else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(addr)
        self._buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def read_until(self, pred, timeout):
        """Reads records into a Response until pred(resp) holds, the worker
        closes, or timeout seconds pass; returns the Response so far."""
        resp = Response()
        deadline = time.monotonic() + timeout
        while not pred(resp):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                break
            except (ConnectionResetError, BrokenPipeError):
                chunk = b""
            if not chunk:
                resp.closed = True
                break
            self._buf += chunk
            while len(self._buf) >= 8:
                _, rtype, _, clen, plen = struct.unpack(">BBHHBx", self._buf[:8])
                if len(self._buf) < 8 + clen + plen:
                    break
                content = self._buf[8:8 + clen]
                self._buf = self._buf[8 + clen + plen:]
                if rtype == STDOUT:
                    resp.stdout += content
                elif rtype == END_REQUEST:
                    resp.ended = True
        return resp

    def response(self, timeout):
        """The whole response of a request that ends (END_REQUEST)."""
        return self.read_until(lambda r: r.ended, timeout)

    def wait_closed(self, timeout):
        """True if the worker closes the connection within timeout s
        (anything it sends meanwhile is read and dropped)."""
        return self.read_until(lambda r: False, timeout).closed

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
