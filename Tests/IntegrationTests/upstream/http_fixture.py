#!/usr/bin/python3
"""A small HTTP/1.1 server on loopback for Wharf's HTTPClient tests.

usage: http_fixture.py   -- prints {"port": N} and serves until standard input closes.
  GET /bytes/N          N bytes of the pattern byte[i] = i % 251, honouring Range; sent in 64 KiB writes
  GET /headers          the request's headers as a JSON object
  GET /redirect?to=URL  307 to URL (`&code=N` for another redirect status)
  POST /echo            the request as JSON: method, headers, body (base64); POST /status/CODE and
                        POST /redirect work as for GET
  GET /status/CODE      CODE with a small JSON error body
  GET /stall/N          promises 2N bytes, sends N, then stalls for 30 s
  GET /v2/              200 {} (a registry that allows anonymous access)
  GET /v2/limited/...   429 TOOMANYREQUESTS with Retry-After: 17 (a rate-limited registry)
Every response carries X-Connection-Requests: requests served so far on this connection.
"""
import base64, http.server, json, re, sys, threading
from urllib.parse import urlparse, parse_qs

PATTERN = bytes(i % 251 for i in range(251 * 1024))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        self.served = 0

    def reply(self, status, body=b"", headers=()):
        self.served += 1
        self.send_response(status)
        self.send_header("X-Connection-Requests", str(self.served))
        for k, v in headers:
            self.send_header(k, v)
        if not any(k.lower() == "content-length" for k, _ in headers):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        url = urlparse(self.path)
        m = re.fullmatch(r"/bytes/(\d+)", url.path)
        if m:
            return self.send_bytes(int(m.group(1)))
        if url.path == "/headers":
            return self.reply(200, json.dumps({k: v for k, v in self.headers.items()}).encode(), [("Content-Type", "application/json")])
        if url.path == "/redirect":
            query = parse_qs(url.query)
            return self.reply(int(query.get("code", ["307"])[0]), b"", [("Location", query["to"][0])])
        if url.path == "/v2/":
            return self.reply(200, b"{}", [("Content-Type", "application/json"), ("Docker-Distribution-API-Version", "registry/2.0")])
        if url.path.startswith("/v2/limited/"):
            body = json.dumps({"errors": [{"code": "TOOMANYREQUESTS", "message": "You have reached your pull rate limit."}]}).encode()
            return self.reply(429, body, [("Content-Type", "application/json"), ("Retry-After", "17")])
        m = re.fullmatch(r"/stall/(\d+)", url.path)
        if m:
            n = int(m.group(1))
            self.send_response(200)
            self.send_header("Content-Length", str(2 * n))
            self.end_headers()
            self.wfile.write(PATTERN[:n])
            self.wfile.flush()
            import time
            time.sleep(30)
            self.close_connection = True
            return
        m = re.fullmatch(r"/status/(\d+)", url.path)
        if m:
            return self.reply(int(m.group(1)), json.dumps({"errors": [{"code": "TEST", "message": "status"}]}).encode(), [("Content-Type", "application/json")])
        self.reply(404, b"no such path")

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length) if length else b""
        url = urlparse(self.path)
        if url.path == "/echo":
            echo = {"method": self.command, "headers": {k: v for k, v in self.headers.items()},
                    "body": base64.b64encode(body).decode()}
            return self.reply(200, json.dumps(echo).encode(), [("Content-Type", "application/json")])
        self.do_GET()

    def send_bytes(self, n):
        start, end, status = 0, n - 1, 200
        headers = [("Content-Type", "application/octet-stream")]
        rng = self.headers.get("Range")
        if rng:
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng)
            start = int(m.group(1))
            end = int(m.group(2)) if m.group(2) else n - 1
            end = min(end, n - 1)
            status = 206
            headers.append(("Content-Range", f"bytes {start}-{end}/{n}"))
        length = end - start + 1
        headers.append(("Content-Length", str(length)))
        self.served += 1
        self.send_response(status)
        self.send_header("X-Connection-Requests", str(self.served))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command == "HEAD":
            return
        pos = start
        try:
            while pos <= end:
                off = pos % 251
                chunk = PATTERN[off:off + min(65536, end - pos + 1)]
                self.wfile.write(chunk)
                pos += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
