#!/usr/bin/env python3
"""Serves the demo page on 127.0.0.1 only, and appends each body POSTed to /report as one line
of REPORT_LOG (scripts/web-check.sh reads it).

Usage: web_server.py PORT FOLDER [REPORT_LOG]"""
import http.server
import os
import sys


class Handler(http.server.SimpleHTTPRequestHandler):
    """Static files, plus POST /report."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      '.wasm': 'application/wasm', '.js': 'text/javascript'}

    def do_POST(self):
        length = int(self.headers.get('Content-Length', 0))
        body = self.rfile.read(length).decode('utf-8', 'replace').replace('\n', ' ')
        if self.path != '/report' or REPORT_LOG is None:
            self.send_response(404)
            self.end_headers()
            return
        with open(REPORT_LOG, 'a', encoding='utf-8') as log:
            log.write(body + '\n')
        self.send_response(204)
        self.end_headers()

    def log_message(self, format, *args):
        pass


if __name__ == '__main__':
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    port, folder = int(sys.argv[1]), sys.argv[2]
    REPORT_LOG = os.path.abspath(sys.argv[3]) if len(sys.argv) == 4 else None
    os.chdir(folder)
    server = http.server.ThreadingHTTPServer(('127.0.0.1', port), Handler)
    print(f'serving {folder} on http://127.0.0.1:{port}/', flush=True)
    server.serve_forever()
