"""Fallback load generator for bench/run.py when wrk is not available.

`python bench/loadgen.py BODIES PORT PATH DURATION CONNECTIONS PROCESSES` posts the pre-signed
bodies of BODIES ("<signature>\\t<body>" lines) to 127.0.0.1:PORT PATH for DURATION seconds over
CONNECTIONS connections spread over PROCESSES processes (threads inside each, http.client with
keep-alive where the server allows it), then prints one `BENCH_JSON {...}` line in the same shape
as bench/wrk_signed.lua. It costs far more CPU per request than wrk: run.py reports how much.
"""

import http.client
import json
import multiprocessing
import sys
import threading
import time

HEADERS = {"Content-Type": "application/json", "User-Agent": "facebookexternalua"}


def _connection_loop(port, path, bodies, deadline, out):
    ok = non_2xx = errors = wraps = index = 0
    latencies = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while time.monotonic() < deadline:
        if index == len(bodies):
            index, wraps = 0, wraps + 1
        signature, body = bodies[index]
        index += 1
        started = time.perf_counter()
        try:
            conn.request("POST", path, body, {**HEADERS, "X-Hub-Signature-256": signature})
            response = conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            continue
        latencies.append(time.perf_counter() - started)
        if 200 <= response.status < 300:
            ok += 1
        else:
            non_2xx += 1
    conn.close()
    out.append((ok, non_2xx, errors, wraps, latencies))


def _process(port, path, bodies, threads, duration, queue):
    deadline = time.monotonic() + duration
    out = []
    share = [bodies[n::threads] for n in range(threads)]
    workers = [
        threading.Thread(target=_connection_loop, args=(port, path, share[n], deadline, out))
        for n in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(duration + 60)
    queue.put(out)


def main(argv):
    bodies_path, port, path, duration, connections, processes = argv
    port, duration = int(port), float(duration)
    connections, processes = int(connections), int(processes)
    with open(bodies_path, encoding="utf-8") as lines:
        bodies = [line.rstrip("\n").split("\t", 1) for line in lines]
    queue = multiprocessing.Queue()
    per_process = max(1, connections // processes)
    children = [
        multiprocessing.Process(
            target=_process,
            args=(port, path, bodies[n::processes], per_process, duration, queue),
        )
        for n in range(processes)
    ]
    started = time.monotonic()
    for child in children:
        child.start()
    results = [item for _ in children for item in queue.get(timeout=duration + 120)]
    elapsed = time.monotonic() - started
    for child in children:
        child.join(30)
    latencies = sorted(lat for *_, lats in results for lat in lats)

    def pct(p):
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1e3 if latencies else 0

    ok, non_2xx, errors, wraps = (sum(r[i] for r in results) for i in range(4))
    summary = {
        "requests": ok + non_2xx,
        "duration_s": min(elapsed, duration),
        "non_2xx": non_2xx,
        "errors": errors,
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
        "max_ms": latencies[-1] * 1e3 if latencies else 0,
        "wraps": wraps,
        "bodies": len(bodies),
    }
    print("BENCH_JSON " + json.dumps(summary), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
