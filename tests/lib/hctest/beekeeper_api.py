"""A stand-in for Beekeeper's ``POST /log`` on 127.0.0.1 that checks what it is sent.

It answers like ``bk-api``: ``{"success": 1}``, or HTTP 500 ``{"error": "Could not insert log: ..."}`` for a
body that is not one operation object or a list of them with ``node_id``, ``operation``, ``field_name``,
``field_value`` and ``source`` (``effective_time`` optional, ISO 8601), or for a ``field_name`` of
``beehive``. Values longer than 64 characters (Beekeeper's VARCHAR(64) columns) are refused too.
``fail_next`` makes the next requests answer HTTP 500 as a database outage would.
"""

import datetime
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REQUIRED = ("node_id", "operation", "field_name", "field_value", "source")


def check_operation(op):
    """None when op is a valid /log operation, else the reason Beekeeper would give."""
    if not isinstance(op, dict):
        return "list expected"
    for field in REQUIRED:
        if field not in op:
            return "Field %s missing. Got: %s" % (field, json.dumps(op))
    if op["field_name"] == "beehive":
        return 'Field "beehive" cannot be set via the /log resource'
    for field in REQUIRED:
        if not isinstance(op[field], str) or len(op[field]) > 64:
            return "%s must be a string of at most 64 characters" % field
    if "effective_time" in op:
        try:
            datetime.datetime.fromisoformat(op["effective_time"])
        except (TypeError, ValueError):
            return "effective_time %r is not ISO 8601" % (op["effective_time"],)
    if not re.match(r"^[0-9A-F]{16}$", op["node_id"]):
        return "node_id %r is not a Beekeeper node ID" % op["node_id"]
    return None


class BeekeeperLog:
    def __init__(self):
        self.requests = []      # (headers dict, raw body bytes)
        self.operations = []    # accepted operations
        self.errors = []        # shape errors (a test expects none)
        self.fail_next = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = "http://127.0.0.1:%d/log" % self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                api.requests.append((dict(self.headers), body))
                if self.path != "/log":
                    return self._send(404, {"error": "not found"})
                if api.fail_next > 0:
                    api.fail_next -= 1
                    return self._send(500, {"error": "Could not insert log: nodes_log_add failed: database away"})
                try:
                    data = json.loads(body)
                except ValueError as e:
                    api.errors.append("not JSON: %s" % e)
                    return self._send(500, {"error": "Error parsing json: %s" % e})
                ops = data if isinstance(data, list) else [data]
                for op in ops:
                    reason = check_operation(op)
                    if reason:
                        api.errors.append(reason)
                        return self._send(500, {"error": "Could not insert log: %s" % reason})
                api.operations.extend(ops)
                return self._send(200, {"success": 1})

            def _send(self, code, doc):
                raw = json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        return Handler

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(10)
