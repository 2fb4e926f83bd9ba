#!/usr/bin/python3
"""probe.py - the timed reads of scripts/bench.sh, in one process each.

Spawning a process per file (cat in a loop) would cost more than reading many
of the files, so each measurement is one Python process that opens and reads
every file itself, in full, the way a web server or the viewer would.

  probe.py ready MNT T0 PID
      Wait for MNT to become a mountpoint (while daemon PID lives), then read
      what the viewer loads before it can draw: dataset_identity.json,
      obs_manifest.json, var_manifest.json, every points_*d.bin.gz and every
      file in obs/, one after the other. Prints "SECONDS FILES BYTES", where
      SECONDS runs from T0 (a Unix time, bash's $EPOCHREALTIME taken just
      before the daemon was started) to the last byte read.

  probe.py genes MNT N SEED [T0]
      Read N gene files of MNT/var, picked at random (seeded) from its sorted
      listing, timing each open + full read on its own. Prints
      "P50_MS P99_MS MAX_MS N BYTES" (nearest-rank percentiles), and with T0
      (as for ready) " FIRST_SECONDS": from T0 to the end of the first read,
      what a viewer user waits from the mount's start for the first gene.

  $ scripts/bench/probe.py ready /mnt/cell "$t0" "$pid"
  3.975 16 3341097
  $ scripts/bench/probe.py genes /mnt/cell 200 3 "$t0"
  2.08 14.88 22.36 200 1857639 4.102

Errors (a file that cannot be read, a daemon that dies) go to stderr with
exit status 1.
"""
import math
import os
import random
import sys
import time

BUF = bytearray(1 << 20)


def read_file(path):
    """Bytes in path, read to the end."""
    total = 0
    view = memoryview(BUF)
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(view)
            if not n:
                return total
            total += n


def alive(pid):
    """Running and not a zombie (a dead daemon bash has not reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def ready(mnt, t0, pid):
    # A 2 ms poll: fine enough against a mount that takes tens of ms or more.
    while not os.path.ismount(mnt):
        if not alive(pid):
            sys.exit(f"probe: the daemon ({pid}) exited before {mnt} was mounted")
        if time.time() - t0 > 600:
            sys.exit(f"probe: {mnt} not mounted after 600 s")
        time.sleep(0.002)
    names = ["dataset_identity.json", "obs_manifest.json", "var_manifest.json"]
    names += sorted(n for n in os.listdir(mnt) if n.startswith("points_") and n.endswith(".bin.gz"))
    names += ["obs/" + n for n in sorted(os.listdir(os.path.join(mnt, "obs")))]
    total = sum(read_file(os.path.join(mnt, n)) for n in names)
    print(f"{time.time() - t0:.3f} {len(names)} {total}")


def percentile(sorted_values, p):
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]


def genes(mnt, n, seed, t0):
    var = os.path.join(mnt, "var")
    names = sorted(os.listdir(var))
    picked = random.Random(seed).sample(names, min(n, len(names)))
    times, total, first = [], 0, ""
    for name in picked:
        start = time.perf_counter()
        total += read_file(os.path.join(var, name))
        times.append((time.perf_counter() - start) * 1000)
        if t0 is not None and not first:
            first = f" {time.time() - t0:.3f}"
    times.sort()
    print(f"{percentile(times, 50):.2f} {percentile(times, 99):.2f} {times[-1]:.2f} "
          f"{len(times)} {total}{first}")


def main(argv):
    try:
        if len(argv) == 5 and argv[1] == "ready":
            ready(argv[2], float(argv[3]), int(argv[4]))
        elif len(argv) in (5, 6) and argv[1] == "genes":
            genes(argv[2], int(argv[3]), int(argv[4]), float(argv[5]) if len(argv) == 6 else None)
        else:
            sys.exit("usage: probe.py ready MNT T0 PID | genes MNT N SEED [T0]")
    except OSError as e:
        sys.exit(f"probe: {e}")


if __name__ == "__main__":
    main(sys.argv)
