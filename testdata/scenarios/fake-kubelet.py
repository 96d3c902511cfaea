#!/usr/bin/env python3
"""A stand-in for node-1's kubelet HTTPS endpoint (port 10250), so that the apiserver's
nodes/proxy requests reach an upstream and the audit log shows the codes a real kubelet would
give (the audit events themselves are the apiserver's own). Usage: fake-kubelet.py ADDR CERT KEY.
Answers: /metrics, /metrics/cadvisor, /metrics/resource, /stats/summary, /pods, /healthz (200);
/run/NS/POD/CTR (200, the command's output); /exec, /attach, /portforward with a websocket
upgrade (101, one frame, close) and without one (400, as the kubelet's streaming server answers
a request it cannot upgrade); anything else 404."""
import base64, hashlib, http.server, json, ssl, sys


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, code, body, ctype="text/plain; charset=utf-8"):
        b = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        p = self.path.split("?")[0]
        if p.startswith(("/exec/", "/attach/", "/portforward/")):
            key = self.headers.get("Sec-WebSocket-Key")
            if self.headers.get("Upgrade", "").lower() == "websocket" and key:
                acc = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
                self.send_response(101, "Switching Protocols")
                self.send_header("Upgrade", "websocket")
                self.send_header("Connection", "Upgrade")
                self.send_header("Sec-WebSocket-Accept", acc)
                self.send_header("Sec-WebSocket-Protocol", "v4.channel.k8s.io")
                self.end_headers()
                out = b"\x01uid=0(root) gid=0(root) groups=0(root)\n"
                self.wfile.write(bytes([0x82, len(out)]) + out + b"\x88\x00")
                self.close_connection = True
                return
            return self.reply(400, "Upgrade request required")
        if p.startswith("/run/"):
            return self.reply(200, "uid=0(root) gid=0(root) groups=0(root)\n")
        if p in ("/metrics", "/metrics/cadvisor", "/metrics/resource", "/metrics/probes"):
            return self.reply(200, "# HELP kubelet_running_pods Number of pods that have a running pod sandbox\n# TYPE kubelet_running_pods gauge\nkubelet_running_pods 14\n",
                              "text/plain; version=0.0.4; charset=utf-8")
        if p == "/stats/summary":
            return self.reply(200, json.dumps({"node": {"nodeName": "node-1", "cpu": {"usageNanoCores": 412345678}}, "pods": []}), "application/json")
        if p in ("/pods", "/pods/"):
            return self.reply(200, json.dumps({"kind": "PodList", "apiVersion": "v1", "items": []}), "application/json")
        if p == "/healthz":
            return self.reply(200, "ok")
        return self.reply(404, "404 page not found\n")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any


if __name__ == "__main__":
    addr, cert, key = sys.argv[1:4]
    srv = http.server.ThreadingHTTPServer((addr, 10250), H)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.serve_forever()
