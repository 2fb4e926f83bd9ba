#!/usr/bin/python3
"""The load client of tests/replicas.sh: GET export files through the front
nginx, the way a few viewers would, and check every answer.

usage: replicas_client.py BASE ROOT STOPFILE

BASE      the front's URL, e.g. http://127.0.0.1:18100
ROOT      a folder holding the expected files (the surviving replica's mount)
STOPFILE  the client stops once this file exists; the test creates it when
          its failure phases are done

THREADS threads each keep one keep-alive connection to the front (a browser
keeps a few per server) and request paths drawn with a fixed seed from every
file under ROOT. A request is lost unless it gets status 200 and a body of
the file's length and SHA-256; a connection error loses the request too, and
the thread reconnects. The run is bounded whatever the test does:
MAX_SECONDS, MAX_REQUESTS.

Prints "requests N lost M seconds S" and up to 5 "lost PATH: why" lines;
exits 1 when a request was lost, 2 when ROOT holds no file.

  $ tests/replicas_client.py http://127.0.0.1:18100 /tmp/t/mnt2 /tmp/t/stop &
  $ touch /tmp/t/stop; wait
  requests 9542 lost 0 seconds 8.4
"""
import hashlib
import http.client
import os
import random
import sys
import threading
import time
import urllib.parse

THREADS = 4
MAX_SECONDS = 40
MAX_REQUESTS = 200000
SHOWN = 5


def expected_files(root):
    """{url path: (length, sha256)} for every file under root."""
    out = {}
    for d, _, files in os.walk(root):
        for name in files:
            path = os.path.join(d, name)
            with open(path, "rb") as f:
                data = f.read()
            url = "/" + urllib.parse.quote(os.path.relpath(path, root))
            out[url] = (len(data), hashlib.sha256(data).digest())
    return out


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__.split("\n\n")[1])
    base, root, stopfile = sys.argv[1:]
    url = urllib.parse.urlsplit(base)
    files = expected_files(root)
    if not files:
        print(f"no files under {root}")
        sys.exit(2)
    urls = sorted(files)
    lock = threading.Lock()
    counts = {"requests": 0, "lost": 0}
    lost = []
    deadline = time.monotonic() + MAX_SECONDS

    def go_on():
        return (counts["requests"] < MAX_REQUESTS and time.monotonic() < deadline
                and not os.path.exists(stopfile))

    def count(path, why=None):
        with lock:
            counts["requests"] += 1
            if why:
                counts["lost"] += 1
                if len(lost) < SHOWN:
                    lost.append(f"lost {path}: {why}")

    def worker(seed):
        rng = random.Random(seed)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        while go_on():
            path = rng.choice(urls)
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                body = resp.read()
            except (OSError, http.client.HTTPException) as e:
                count(path, f"{type(e).__name__}: {e}")
                conn.close()  # the next request opens a new connection
                continue
            length, digest = files[path]
            if resp.status != 200:
                count(path, f"status {resp.status}")
            elif len(body) != length or hashlib.sha256(body).digest() != digest:
                count(path, f"wrong body ({len(body)} bytes, expected {length})")
            else:
                count(path)
        conn.close()

    start = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"requests {counts['requests']} lost {counts['lost']} "
          f"seconds {time.monotonic() - start:.1f}")
    for line in lost:
        print(line)
    sys.exit(1 if counts["lost"] else 0)


if __name__ == "__main__":
    main()
