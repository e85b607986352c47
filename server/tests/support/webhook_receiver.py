"""A host's webhook receiver for Mailkey's tests, verifying every delivery with the
`standardwebhooks` package from PyPI: an implementation of the specification that Mailkey's
code has nothing to do with.

    python webhook_receiver.py PORT SECRET_FILE LOG_FILE [STATUS]

Answers each verified delivery with STATUS (default 204) and appends one JSON line to LOG_FILE:
{"verified": true, "id", "type", "body"}; a delivery that does not verify is logged with
"verified": false and answered 400. The secret is read from SECRET_FILE on each request.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks.webhooks import Webhook

PORT, SECRET_FILE, LOG_FILE = int(sys.argv[1]), sys.argv[2], sys.argv[3]
STATUS = int(sys.argv[4]) if len(sys.argv) > 4 else 204


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        with open(SECRET_FILE) as f:
            secret = f.read().strip()
        entry = {"id": headers.get("webhook-id"), "path": self.path}
        try:
            payload = Webhook(secret).verify(body, headers)
            entry.update(verified=True, type=payload.get("type"), body=payload)
            status = STATUS
        except Exception as e:  # the verifier's refusal, in the log for the test to show
            entry.update(verified=False, error=repr(e))
            status = 400
        with open(LOG_FILE, "a") as f:
            f.write(json.dumps(entry) + "\n")
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", PORT), Receiver).serve_forever()
