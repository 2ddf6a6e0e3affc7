"""A very small Graph API for the killed-worker test: a threaded local HTTP server that accepts
template sends, counts them per recipient and remembers the callback data each carried, so the
test can play Meta's status webhook for them."""

import itertools
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class GraphMock:
    def __init__(self):
        self.lock = threading.Lock()
        self.calls = Counter()  # recipient phone -> template sends accepted
        self.accepted = []  # (wamid, recipient, callback data), in arrival order
        self._ids = itertools.count(1)
        mock = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with mock.lock:
                    wamid = f"wamid.MOCK{next(mock._ids)}"
                    if body.get("type") == "template":
                        mock.calls[body["to"]] += 1
                        mock.accepted.append(
                            (wamid, body["to"], body.get("biz_opaque_callback_data", ""))
                        )
                answer = json.dumps(
                    {
                        "messaging_product": "whatsapp",
                        "contacts": [{"input": body.get("to", ""), "wa_id": body.get("to", "")}],
                        "messages": [{"id": wamid}],
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a killed worker resets its connections: expected here

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def total(self) -> int:
        with self.lock:
            return sum(self.calls.values())

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
