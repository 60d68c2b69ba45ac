#!/usr/bin/env python3
"""Static files: Interleave vs Debian's nginx serving the same Public/, side by side.

    python3 bench/static_vs_nginx.py                       # wrk -t2 -c64, 10 s per round, 3 rounds each
    python3 bench/static_vs_nginx.py --seconds 5 --rounds 2
    python3 bench/static_vs_nginx.py --json                # also one JSON row for bench/run.py's table (HOOKS)

Both servers listen on loopback with two workers (nginx: worker_processes 2; Interleave:
libmicrohttpd's two polling threads), each as it ships: nginx with Debian's access log on
(a line per request, to a file), Interleave at its default log level (info), where a cached
static file served with 200/304 logs at debug and so writes no line (errors and API
requests still do). Rounds alternate so that the machine's other load falls on both.
Prints requests/s for each, the median over rounds, the ratio (goal: >= 0.8), and the
median of the per-round ratios (each round's two runs are back to back, so this one is the
least disturbed by other load). Also checks that a revalidation (If-None-Match) is
answered 304 by both. Needs nginx-light and wrk (scripts/bootstrap --bench).
"""
import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def start_nginx(directory, public):
    port = free_port()
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    config = os.path.join(directory, "nginx.conf")
    with open(config, "w") as f:
        f.write(f"""
worker_processes 2;
daemon off;
pid {directory}/nginx.pid;
error_log {directory}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    access_log {directory}/nginx-access.log;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {public};
        location / {{ add_header Cache-Control no-cache; }}
    }}
}}
""")
    process = subprocess.Popen([nginx, "-c", config, "-p", directory], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/index.html"
    wait_until_up(url)
    return process, url


def start_interleave(binary, directory, public, extra=()):
    log = open(os.path.join(directory, "interleave.log"), "w")
    process = subprocess.Popen([binary, "serve", "--port", "0", "--public-dir", public, "--exit-on-stdin-close",
                                "--data-dir", os.path.join(directory, "data"), *extra],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
    line = process.stdout.readline()
    if "listening" not in line:
        raise SystemExit(f"interleave did not start: {line!r} {open(os.path.join(directory, 'interleave.log')).read()[-2000:]}")
    base = line.strip().rsplit(" ", 1)[-1]
    url = base + "/index.html"
    wait_until_up(url)
    return process, url


def wrk(url, seconds, threads, connections):
    output = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url],
                            capture_output=True, text=True, timeout=seconds + 60).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if not match:
        raise SystemExit(f"wrk gave no rate:\n{output}")
    if errors:
        raise SystemExit(f"{url}: {errors.group(1)} error responses under load")
    p99 = re.search(r"99%\s+([\d.]+\w+)", output)
    return float(match.group(1)), p99.group(1) if p99 else "?"


def revalidates(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        etag = response.headers.get("ETag")
    request = urllib.request.Request(url, headers={"If-None-Match": etag or '"none"'})
    try:
        urllib.request.urlopen(request, timeout=5)
        return False
    except urllib.error.HTTPError as error:
        return error.code == 304


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.environ.get("INTERLEAVE_BIN", os.path.join(ROOT, ".build", "release", "interleave")))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--log-every-request", action="store_true",
                        help="run Interleave at --log-level debug: a log line per static request too, as nginx's access log")
    parser.add_argument("--json", action="store_true", help="also print the figure as a JSON row (bench/run.py HOOKS)")
    args = parser.parse_args()
    if not shutil.which("wrk") or not (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")):
        raise SystemExit("needs wrk and nginx: scripts/bootstrap --bench")
    public = os.path.join(ROOT, "Public")
    with tempfile.TemporaryDirectory(prefix="interleave-static-") as directory:
        nginx, nginx_url = start_nginx(directory, public)
        interleave, interleave_url = start_interleave(args.binary, directory, public,
                                                      ["--log-level", "debug"] if args.log_every_request else [])
        try:
            print(f"wrk -t{args.threads} -c{args.connections} -d{args.seconds}s /index.html "
                  f"({os.path.getsize(os.path.join(public, 'index.html'))} bytes), {args.rounds} rounds each, alternating"
                  + (", Interleave logging every request" if args.log_every_request else ""))
            rates = {"nginx": [], "interleave": []}
            for round_number in range(args.rounds):
                for name, url in (("nginx", nginx_url), ("interleave", interleave_url)):
                    rate, p99 = wrk(url, args.seconds, args.threads, args.connections)
                    rates[name].append(rate)
                    print(f"  round {round_number + 1} {name:10s} {rate:10.0f} req/s   p99 {p99}")
            n, i = statistics.median(rates["nginx"]), statistics.median(rates["interleave"])
            paired = statistics.median(a / b for a, b in zip(rates["interleave"], rates["nginx"]))
            print(f"static /index.html: interleave {i:.0f} req/s, nginx {n:.0f} req/s, ratio {i / n:.2f}, "
                  f"median of per-round ratios {paired:.2f} (goal >= 0.8)")
            ours, theirs = revalidates(interleave_url), revalidates(nginx_url)
            print(f"304 on If-None-Match: interleave {ours}, nginx {theirs}")
            if args.json:
                print(json.dumps({"figure": f"static /index.html, wrk -t{args.threads} -c{args.connections} "
                                            f"(median of {args.rounds} alternating rounds)",
                                  "value": round(i), "unit": "req/s", "baseline": round(n), "baselineName": "nginx",
                                  "goal": "≥ 0.8× nginx", "met": i / n >= 0.8}))
                print(json.dumps({"figure": "static revalidation: If-None-Match answered 304", "value": int(ours),
                                  "unit": "(1 = yes)", "baseline": int(theirs), "baselineName": "nginx",
                                  "goal": "304", "met": ours}))
        finally:
            interleave.terminate()
            nginx.terminate()
            interleave.wait(timeout=30)
            nginx.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
