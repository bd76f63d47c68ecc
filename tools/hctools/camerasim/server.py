"""HTTP front end of the camera simulator: request routing, auth order, streaming, command line."""

import argparse
import json
import os
import re
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from .driver import KNOBS, MODELS, SunapiError
from .sunapi import render

UNAUTHORIZED_BODY = ("<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n<title>401 "
                     "Unauthorized</title>\n</head><body>\n<h1>Unauthorized</h1>\n<p>This server could not "
                     "verify that you\nare authorized to access the document\nrequested.</p>\n</body></html>\n")
LOCKOUT_BODY = "Exceeded maximum login attempts, please try after some time\r\n"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in one segment (flushed after each request): no Nagle/delayed-ACK stalls.
    wbufsize = -1
    disable_nagle_algorithm = True
    server_version = "camerasim"
    sys_version = ""
    timeout = 60

    def log_message(self, fmt, *args):
        if self.server.verbose:
            BaseHTTPRequestHandler.log_message(self, fmt, *args)

    def _send(self, status, body, ctype="text/plain", headers=()):
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def drop_connection(self):
        """Closes the connection without an answer (a rebooting camera, an upload cut half-way)."""
        self.close_connection = True
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def stream_lines(self, lines, step):
        """A streamed key=value reply without Content-Length, one line at a time, then the connection closes."""
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.flush()
        for line in lines:
            self.wfile.write((line + "\r\n").encode("utf-8"))
            self.wfile.flush()
            if step > 0:
                time.sleep(step)
        self.close_connection = True

    def _wants_json(self):
        fmt = self.server.sim.config["reply_format"]
        if fmt == "json":
            return True
        if fmt == "text":
            return False
        return "application/json" in (self.headers.get("Accept") or "")

    def _send_error(self, exc):
        if self._wants_json():
            self._send(200, json.dumps({"Response": "Fail", "Error": {"Code": exc.code, "Details": exc.details}}),
                       "application/json")
        else:
            self._send(200, "NG\r\nError Code: %d\r\nError Details:\r\n%s\r\n" % (exc.code, exc.details))

    def _read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_HEAD(self):
        self.do_GET()

    def do_POST(self):
        self.do_GET()

    def _authenticate(self):
        """-> user name, or None after an answer (401/490/403) was sent."""
        sim = self.server.sim
        client = self.client_address[0]
        if not sim.config["initialized"]:
            # Factory state: every CGI but pw_init answers 403 without a challenge.
            self._read_body()
            self._send(403, "Forbidden\r\n")
            return None
        if sim.is_locked(client):
            self._read_body()
            self._send(490, LOCKOUT_BODY)
            return None
        user, stale = sim.check_auth(self.headers.get("Authorization"), self.command, self.path, client)
        if user is None:
            self._read_body()   # keep the connection usable for the retry
            if sim.is_locked(client):   # this very attempt triggered the lockout
                self._send(490, LOCKOUT_BODY)
                return None
            self._send(401, UNAUTHORIZED_BODY, "text/html", [("WWW-Authenticate", c) for c in sim.challenges(stale)])
            return None
        return user

    def do_GET(self):
        sim = self.server.sim
        sim.reload_config()
        if sim.is_down():
            self.drop_connection()
            return
        parts = urlsplit(self.path)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        if sim.api == "sunapi" and parts.path == "/init-cgi/pw_init.cgi":
            self._read_body()
            if params.get("msubmenu") == "statuscheck" and params.get("action") == "view":
                self._send(200, json.dumps(sim.pw_init_status()), "application/json")
            else:
                self._send_error(SunapiError(600))
            return
        if sim.api == "sunapi" and parts.path.startswith("/stw-cgi/attributes.cgi") \
                and not sim.config["attributes_need_auth"] and sim.config["initialized"]:
            self._attributes(parts.path)
            return
        user = self._authenticate()
        if user is None:
            return
        if sim.api == "vapix":
            status, body, ctype = sim.vapix(parts.path, params, user, self._read_body())
            self._send(status, body, ctype)
            return
        if parts.path.startswith("/stw-cgi/attributes.cgi"):
            self._attributes(parts.path)
            return
        m = re.match(r"^/stw-cgi/(\w+)\.cgi$", parts.path)
        if not m:
            self._read_body()
            self._send(404, "Not Found\r\n")
            return
        cgi, submenu = m.group(1), params.get("msubmenu", "")
        try:
            if self.command == "POST" and cgi == "system" and submenu == "firmwareupdate":
                self._require_control(params)
                with sim.firmware_lock:
                    sim.firmware_update(self, params)
                return
            body = self._read_body()
            if self.command == "POST" and cgi == "system" and submenu == "configrestore":
                self._require_control(params)
                kind, data = sim.config_restore(self, params, body)
            else:
                kind, data = sim.dispatch(cgi, params, user)
        except SunapiError as exc:
            self._send_error(exc)
            return
        if kind == "http500":
            self._send(500, data)
            return
        self._send(200, *render(kind, data, self._wants_json(), sim.config))

    @staticmethod
    def _require_control(params):
        if params.get("action") != "control":
            raise SunapiError(601)

    def _attributes(self, path):
        self._read_body()
        xml = self.server.sim.attributes_xml(path)
        if xml is None:
            self._send(404, "Not Found\r\n")
        else:
            self._send(200, xml, "application/xml")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 16


def _user_arg(text):
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise argparse.ArgumentTypeError("expected NAME:PASSWORD[:ptz|noptz], got %r" % text)
    return parts[0], {"password": parts[1], "ptz": (parts[2] if len(parts) == 3 else "ptz") == "ptz"}


def build_parser():
    p = argparse.ArgumentParser(prog="python -m hctools.camerasim", description="Hanwha SUNAPI camera simulator")
    p.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=80, help="TCP port (default 80; 0 picks a free one)")
    p.add_argument("--state-dir", required=True, help="directory for persistent state and config.json")
    p.add_argument("--model", choices=sorted(MODELS), help="camera model (default: the stored one or XNP-6400RW)")
    p.add_argument("--firmware", help="firmware version of a new camera (default: the stored one or the model's)")
    p.add_argument("--user", action="append", type=_user_arg, metavar="NAME:PASSWORD[:ptz|noptz]",
                   help="replace the accounts (default admin/honeycomb-sim-admin with PTZ, "
                        "waggle/honeycomb-sim-user without)")
    p.add_argument("--port-file", help="write the bound port here once listening")
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    for name, (default, typ) in KNOBS.items():
        flag = "--" + name.replace("_", "-")
        if typ is bool:
            p.add_argument(flag, type=lambda s: s.lower() in ("1", "true", "yes", "on"), default=None,
                           metavar="BOOL", help="default %s" % default)
        else:
            p.add_argument(flag, type=typ, default=None, help="default %s" % default)
    return p


def main(argv=None):
    from .sim import CameraSim
    args = build_parser().parse_args(argv)
    overrides = {k: getattr(args, k) for k in KNOBS}
    overrides["model"] = args.model
    overrides["firmware"] = args.firmware
    if args.user:
        overrides["users"] = dict(args.user)
    sim = CameraSim(args.state_dir, overrides)
    server = Server((args.bind, args.port), Handler)
    server.sim = sim
    server.verbose = args.verbose
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as fh:
            fh.write("%d\n" % port)
        os.replace(tmp, args.port_file)

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.stderr.write("camerasim: %s on %s:%d, digest %s, state %s\n"
                     % (sim.model, args.bind, port, ",".join(sim.config["digest_algorithms"]), args.state_dir))
    sys.stderr.flush()
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
        with sim.lock:
            sim.stop_move()
    return 0
