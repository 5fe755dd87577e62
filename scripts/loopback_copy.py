#!/usr/bin/env python3
"""Baseline for the large-model testnet: how long this machine takes to move the bytes of one
round over loopback TCP with nothing else to do. Every one of N nodes sends its update of
BYTES to each of the other N - 1 (as in a round where each node fetches every other update),
all pairs at once, one TCP connection per pair. Prints JSON: bytes moved, seconds (median of
--runs), GB/s.

    python3 scripts/loopback_copy.py --nodes 4 --bytes 400000000 --runs 3
"""

import argparse
import json
import socket
import statistics
import threading
import time

CHUNK = 8 * 1024 * 1024


def serve(listener, total, done):
    conn, _ = listener.accept()
    got = 0
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    while got < total:
        n = conn.recv_into(view)
        if n == 0:
            break
        got += n
    conn.close()
    done.append(got)


def send(port, payload, total):
    s = socket.create_connection(("127.0.0.1", port))
    view = memoryview(payload)
    left = total
    while left > 0:
        n = min(left, len(view))
        s.sendall(view[:n])
        left -= n
    s.close()


def one_run(nodes, total):
    pairs = [(a, b) for a in range(nodes) for b in range(nodes) if a != b]
    payload = bytes(CHUNK)
    listeners, done, threads = [], [], []
    for _ in pairs:
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(1)
        listeners.append(ls)
    start = time.monotonic()
    for ls in listeners:
        t = threading.Thread(target=serve, args=(ls, total, done))
        t.start()
        threads.append(t)
    for ls in listeners:
        t = threading.Thread(target=send, args=(ls.getsockname()[1], payload, total))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    secs = time.monotonic() - start
    for ls in listeners:
        ls.close()
    return sum(done), secs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=4)
    ap.add_argument("--bytes", type=int, default=400_000_000, help="bytes per update")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    times, moved = [], 0
    for _ in range(a.runs):
        moved, secs = one_run(a.nodes, a.bytes)
        times.append(secs)
    med = statistics.median(times)
    print(json.dumps({"nodes": a.nodes, "bytes_per_update": a.bytes, "bytes_moved": moved,
                      "seconds_median": round(med, 3), "seconds": [round(t, 3) for t in times],
                      "gb_per_s": round(moved / med / 1e9, 2)}))


if __name__ == "__main__":
    main()
