#!/usr/bin/env python3
"""A tiny relying party for trying Lanyard by hand (standard library only).

It runs on http://127.0.0.1:8081 (DEMO_PORT), sends you to Lanyard with the authorization-code flow and
PKCE, exchanges the code for tokens, and shows the ID token's claims and the userinfo answer.
It matches the `demo` client in config/lanyard.toml. Not for production: it keeps state in
memory and does not verify the ID token signature (a real RP library does).
"""
import base64, hashlib, http.server, json, os, secrets, sys, urllib.parse, urllib.request

ISSUER = os.environ.get("LANYARD_ISSUER", "http://localhost:8080")
CLIENT_ID = os.environ.get("DEMO_CLIENT_ID", "demo")
CLIENT_SECRET = os.environ.get("DEMO_CLIENT_SECRET", "demo-secret-change-me")
PORT = int(os.environ.get("DEMO_PORT", "8081"))
REDIRECT = f"http://127.0.0.1:{PORT}/callback"
pending = {}

def discover():
    with urllib.request.urlopen(ISSUER + "/.well-known/openid-configuration") as r:
        return json.load(r)

def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

def claims(jwt):
    part = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))

class Handler(http.server.BaseHTTPRequestHandler):
    def page(self, body, status=200):
        self.send_response(status)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(f"<!doctype html><title>Demo app</title><body style='font-family:sans-serif;max-width:50rem;margin:2rem auto'>{body}".encode())

    def do_GET(self):
        meta = discover()
        url = urllib.parse.urlparse(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/":
            self.page("<h1>Demo app</h1><p><a href='/login'>Log in with Lanyard</a></p>")
        elif url.path == "/login":
            state, nonce, verifier = secrets.token_urlsafe(16), secrets.token_urlsafe(16), secrets.token_urlsafe(48)
            pending[state] = (nonce, verifier)
            params = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT,
                      "scope": "openid profile email offline_access", "state": state, "nonce": nonce,
                      "code_challenge": b64(hashlib.sha256(verifier.encode()).digest()), "code_challenge_method": "S256"}
            self.send_response(303)
            self.send_header("location", meta["authorization_endpoint"] + "?" + urllib.parse.urlencode(params))
            self.end_headers()
        elif url.path == "/callback":
            if "error" in q:
                return self.page(f"<h1>Error</h1><pre>{q}</pre>", 400)
            nonce, verifier = pending.pop(q.get("state", ""), (None, None))
            if verifier is None:
                return self.page("<h1>Unknown state</h1>", 400)
            body = urllib.parse.urlencode({"grant_type": "authorization_code", "code": q["code"],
                                           "redirect_uri": REDIRECT, "code_verifier": verifier}).encode()
            req = urllib.request.Request(meta["token_endpoint"], data=body)
            req.add_header("authorization", "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode())
            with urllib.request.urlopen(req) as r:
                tokens = json.load(r)
            idt = claims(tokens["id_token"])
            assert idt["nonce"] == nonce, "nonce mismatch"
            ui = urllib.request.Request(meta["userinfo_endpoint"], headers={"authorization": "Bearer " + tokens["access_token"]})
            with urllib.request.urlopen(ui) as r:
                info = json.load(r)
            self.page("<h1>Signed in</h1><h2>ID token claims</h2><pre>" + json.dumps(idt, indent=2) +
                      "</pre><h2>Userinfo</h2><pre>" + json.dumps(info, indent=2) + "</pre><p><a href='/'>Again</a></p>")
        else:
            self.page("not found", 404)

if __name__ == "__main__":
    print(f"Demo relying party on http://127.0.0.1:{PORT} (issuer {ISSUER})", file=sys.stderr, flush=True)
    http.server.HTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
