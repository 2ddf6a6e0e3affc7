"""A company's website on another origin than Switchboard: a tiny HTTP server on 127.0.0.1
serving pages that embed a widget's snippet (Switchboard's live server is on localhost)."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Shop</title>
<style>button, a {{ font-size: 40px; color: red; }} div {{ all: unset; }}</style></head>
<body><h1>Red shoes</h1><a href="#buy" id="buy">Buy</a>
{snippet}</body></html>"""


class Site:
    def __init__(self):
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = pages.get(self.path.split("?")[0])
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write((body or "not found").encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def page(self, path: str, snippet: str) -> str:
        self.pages[path] = PAGE.format(snippet=snippet)
        return self.origin + path

    def close(self):
        self.server.shutdown()
        self.server.server_close()
