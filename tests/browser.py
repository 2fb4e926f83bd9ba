"""tests/browser.py - the Python half of tests/browser.sh (standard library only).

    browser.py drive CMD_FIFO REPLY_FIFO URL OUTDIR TIMEOUT
        Drive a headless Chromium started with --remote-debugging-pipe (its fd 3 reading
        CMD_FIFO, fd 4 writing REPLY_FIFO) through the DevTools protocol: open URL at 1200x900,
        wait until the preview page reports window.cellucidChecks.done (at most TIMEOUT
        seconds), then write into OUTDIR: report.json (done, passed, failed, failures, dialect,
        title, seconds) and checks.txt (the text of <pre id="checks">), exceptions.txt (uncaught
        exceptions, one a line) and screenshot.png. Waiting on the page's own signal is what
        makes this reliable on a slow server, where a fixed --virtual-time-budget is not: on a
        cold 100 000-cell mount it dumped the DOM after 3 of 66 checks.
    browser.py app CMD_FIFO REPLY_FIFO URL OUTDIR TIMEOUT READY
        The same for a web app (tests/viewer_app.sh): open URL, wait until the JavaScript
        expression READY is true and the network has been quiet for 2 s, and write
        OUTDIR/app.json: what the page logged as errors and what it fetched, with status.
    browser.py expected-checks ROOT SAMPLE
        The number of files the page must check for the export in ROOT: the identity, the
        manifests, each embedding, each obs payload and at most SAMPLE genes.
    browser.py png-stats FILE
        "width height colours commonest% saturated%" of an 8-bit RGB/RGBA PNG (no PIL here).
"""
import base64
import collections
import json
import os
import select
import struct
import sys
import time
import zlib


class DevTools:
    """A DevTools protocol connection over Chromium's pipe: JSON messages ended by NUL."""

    def __init__(self, cmd_fifo, reply_fifo, deadline):
        # Same order as the shell opens them for Chromium (fd 3 first), or both would block.
        self.out = open(cmd_fifo, "wb", buffering=0)
        self.inp = os.open(reply_fifo, os.O_RDONLY)
        self.deadline = deadline
        self.buffer = b""
        self.last_id = 0
        self.events = []

    def call(self, method, params=None, session=None):
        self.last_id += 1
        message = {"id": self.last_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.out.write(json.dumps(message).encode() + b"\0")
        while True:
            reply = self.receive()
            if reply.get("id") != self.last_id:
                self.events.append(reply)
            elif "error" in reply:
                raise RuntimeError(f"{method}: {reply['error'].get('message')}")
            else:
                return reply["result"]

    def receive(self):
        while b"\0" not in self.buffer:
            left = self.deadline - time.monotonic()
            if left <= 0 or not select.select([self.inp], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self.inp, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self.buffer += chunk
        message, _, self.buffer = self.buffer.partition(b"\0")
        return json.loads(message)


READ_PAGE = """JSON.stringify({
    title: document.title,
    checks: (document.getElementById('checks') || {}).textContent || '',
    result: window.cellucidChecks || null,
})"""


def open_page(tools, url, domains=("Runtime", "Page")):
    """A new 1200x900 page on URL with DOMAINS enabled: (page, evaluate)."""
    target = tools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = tools.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]

    def page(method, params=None):
        return tools.call(method, params, session)

    def evaluate(expression):
        return page("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                         "awaitPromise": True})["result"].get("value")

    for domain in domains:
        page(f"{domain}.enable")
    page("Emulation.setDeviceMetricsOverride",
         {"width": 1200, "height": 900, "deviceScaleFactor": 1, "mobile": False})
    page("Page.navigate", {"url": url})
    return page, evaluate


def drive(cmd_fifo, reply_fifo, url, outdir, timeout):
    started = time.monotonic()
    # Extra time past TIMEOUT for reading the page and the screenshot.
    tools = DevTools(cmd_fifo, reply_fifo, started + timeout + 30)
    page, evaluate = open_page(tools, url)
    while not evaluate("!!(window.cellucidChecks && window.cellucidChecks.done)"):
        if time.monotonic() > started + timeout:
            break
        time.sleep(0.2)
    seconds = time.monotonic() - started
    state = json.loads(evaluate(READ_PAGE))
    evaluate("new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
    png = base64.b64decode(page("Page.captureScreenshot", {"format": "png"})["data"])
    exceptions = [event["params"]["exceptionDetails"] for event in tools.events
                  if event.get("method") == "Runtime.exceptionThrown"]
    tools.call("Browser.close")

    result = state["result"] or {}
    report = {"done": bool(result.get("done")), "passed": result.get("passed", 0),
              "failed": result.get("failed", 0), "failures": result.get("failures", []),
              "dialect": result.get("dialect"),
              "title": state["title"], "seconds": round(seconds, 1)}
    write(outdir, "report.json", json.dumps(report))
    write(outdir, "checks.txt", state["checks"] + "\n")
    write(outdir, "exceptions.txt", "".join(
        (d.get("exception", {}).get("description") or d.get("text", "")).splitlines()[0] + "\n"
        for d in exceptions))
    with open(os.path.join(outdir, "screenshot.png"), "wb") as f:
        f.write(png)


def app(cmd_fifo, reply_fifo, url, outdir, timeout, ready, quiet=2.0):
    """Open URL (a web app) and watch it load: what it logged and fetched.

    Waits until the page's READY expression is true and no request has been
    under way for QUIET seconds (at most TIMEOUT, and 15 s past ready), then writes OUTDIR/app.json:
    ready, seconds, errors (console errors and asserts, uncaught exceptions,
    and the browser's own error entries such as a failed load, one line each),
    responses ([url, status] of every HTTP response, redirects included) and
    failed ([url, reason] of requests that got no response)."""
    started = time.monotonic()
    tools = DevTools(cmd_fifo, reply_fifo, started + timeout + 30)
    page, evaluate = open_page(tools, url, ("Runtime", "Page", "Network", "Log"))
    pending, last_activity, ready_at = set(), time.monotonic(), None
    seen = 0
    while time.monotonic() < started + timeout:
        is_ready = bool(evaluate(ready))
        for event in tools.events[seen:]:
            method, params = event.get("method", ""), event.get("params", {})
            if method == "Network.requestWillBeSent":
                pending.add(params["requestId"])
            elif method in ("Network.loadingFinished", "Network.loadingFailed"):
                pending.discard(params["requestId"])
            else:
                continue
            last_activity = time.monotonic()
        seen = len(tools.events)
        if is_ready and ready_at is None:
            ready_at = time.monotonic() - started
        now = time.monotonic()
        # an app that keeps a request open (a poll) is watched 15 s past ready
        if is_ready and ((not pending and now - last_activity >= quiet) or
                         now - started - ready_at > 15):
            break
        time.sleep(0.2)
    errors, responses, failed, urls = [], [], [], {}
    for event in tools.events:
        method, params = event.get("method", ""), event.get("params", {})
        if method == "Network.requestWillBeSent":
            urls[params["requestId"]] = params["request"]["url"]
            if params.get("redirectResponse"):
                responses.append([params["redirectResponse"]["url"], params["redirectResponse"]["status"]])
        elif method == "Network.responseReceived":
            responses.append([params["response"]["url"], params["response"]["status"]])
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            failed.append([urls.get(params["requestId"], "?"), params.get("errorText", "")])
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append("console." + params["type"] + ": " + " ".join(
                str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            d = params["exceptionDetails"]
            errors.append("exception: " + (d.get("exception", {}).get("description") or d.get("text", "")))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            entry = params["entry"]
            errors.append(f"log ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}".strip())
    tools.call("Browser.close")
    write(outdir, "app.json", json.dumps({
        "ready": ready_at is not None, "seconds": round(ready_at or time.monotonic() - started, 1),
        "errors": [e.splitlines()[0] if e else e for e in errors], "responses": responses,
        "failed": failed}))


def write(outdir, name, text):
    with open(os.path.join(outdir, name), "w", encoding="utf-8") as f:
        f.write(text)


def expected_checks(root, sample):
    def load(name):
        with open(os.path.join(root, name), encoding="utf-8") as f:
            return json.load(f)
    identity, obs = load("dataset_identity.json"), load("obs_manifest.json")
    outliers = bool(obs["_obsSchemas"].get("categorical", {}).get("outlierPathPattern"))
    n = 2 + len(identity["embeddings"]["available_dimensions"])
    n += len(obs["_continuousFields"]) + (2 if outliers else 1) * len(obs["_categoricalFields"])
    genes = identity["stats"]["n_genes"]
    return n + (1 + min(genes, sample) if genes else 0)


def png_pixels(path):
    """Width, height and the rows of an 8-bit RGB/RGBA non-interlaced PNG as 3-byte pixels."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    pos, idat, header = 8, [], None
    while pos < len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", data[pos + 8:pos + 21])
        elif kind == b"IDAT":
            idat.append(data[pos + 8:pos + 8 + size])
        pos += 12 + size
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in (2, 6) or interlace:
        raise ValueError(f"unsupported PNG (depth {depth}, colour type {colour}, interlace {interlace})")
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(b"".join(idat)), width * bpp
    prev, rows = bytearray(stride), []
    for y in range(height):
        start = y * (stride + 1)
        line = unfilter(raw[start], bytearray(raw[start + 1:start + 1 + stride]), prev, bpp)
        rows.append([bytes(line[i:i + 3]) for i in range(0, stride, bpp)])
        prev = line
    return width, height, rows


def unfilter(kind, line, prev, bpp):
    """Undo one PNG row filter (0 none, 1 sub, 2 up, 3 average, 4 Paeth) in place."""
    for x in range(len(line) if kind else 0):
        a = line[x - bpp] if x >= bpp else 0
        b = prev[x]
        c = prev[x - bpp] if x >= bpp else 0
        if kind == 1:
            line[x] = (line[x] + a) & 255
        elif kind == 2:
            line[x] = (line[x] + b) & 255
        elif kind == 3:
            line[x] = (line[x] + (a + b) // 2) & 255
        else:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    return line


def png_stats(path):
    width, height, rows = png_pixels(path)
    counts = collections.Counter(px for row in rows for px in row)
    total = width * height
    saturated = sum(n for px, n in counts.items() if max(px) - min(px) > 60)
    common = counts.most_common(1)[0][1]
    return f"{width} {height} {len(counts)} {round(100 * common / total)} {round(100 * saturated / total, 1)}"


def main(argv):
    command, args = argv[1], argv[2:]
    if command == "drive":
        cmd_fifo, reply_fifo, url, outdir, timeout = args
        drive(cmd_fifo, reply_fifo, url, outdir, float(timeout))
    elif command == "app":
        cmd_fifo, reply_fifo, url, outdir, timeout, ready = args
        app(cmd_fifo, reply_fifo, url, outdir, float(timeout), ready)
    elif command == "expected-checks":
        print(expected_checks(args[0], int(args[1])))
    elif command == "png-stats":
        print(png_stats(args[0]))
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    try:
        main(sys.argv)
    except (OSError, ValueError, RuntimeError, KeyError) as err:
        sys.exit(f"browser.py: {err}")
