"""tests/follow_load.py - readers under load while the source changes
(tests/follow.sh).

    python3 tests/follow_load.py PORT SECONDS EXPORT...

16 connections fetch random files of the union of the given exports (the
versions the source goes through) over HTTP for SECONDS. Every response must
be 200 with a body equal to that file in one of the exports, or 404 for a
name that some export lacks. Prints one line per bad response (at most 10)
and a summary; exits non-zero when any response was bad.
"""
import http.client
import os
import random
import sys
import threading
import time

port, seconds, exports = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
versions = []
for root in exports:
    files = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            with open(p, "rb") as f:
                files[os.path.relpath(p, root)] = f.read()
    versions.append(files)
paths = sorted(set().union(*versions))
lock = threading.Lock()
bad, counts, seen = [], {"200": 0, "404": 0}, set()


def reader(seed):
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        path = rng.choice(paths)
        try:
            conn.request("GET", "/" + path)
            r = conn.getresponse()
            body = r.read()
        except (OSError, http.client.HTTPException) as e:
            with lock:
                bad.append(f"{path}: {type(e).__name__}: {e}")
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        owners = [k for k, v in enumerate(versions) if v.get(path) == body]
        ok = (r.status == 200 and owners) or (
            r.status == 404 and any(path not in v for v in versions))
        with lock:
            counts[str(r.status)] = counts.get(str(r.status), 0) + 1
            if r.status == 200 and len(owners) == 1:
                seen.add(owners[0])
            if not ok:
                bad.append(f"{path}: status {r.status}, {len(body)} bytes, "
                           "equal to no version's file")


threads = [threading.Thread(target=reader, args=(k,)) for k in range(16)]
for t in threads:
    t.start()
for t in threads:
    t.join()
for line in bad[:10]:
    print("bad:", line)
print(f"{sum(counts.values())} responses ({counts['200']} x 200, {counts['404']} x 404), "
      f"{len(bad)} bad, bodies only in version(s) {sorted(seen)}")
sys.exit(1 if bad or not counts["200"] else 0)
