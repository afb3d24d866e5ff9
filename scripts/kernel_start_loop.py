"""Starts the course's kernel many times through Jupyter's own server and sends a cell at once,
as tests/hub_check.py does for each student; counts the starts whose cell never
ran. This is how the kernel-start hang that scripts/zeromq-sync-lock.patch fixes was found
(README, "A kernel that never ran its first cell"): with three loops at once and the cores busy,
19 of 264 starts hung before the patch, none after.

    python scripts/kernel_start_loop.py [--transport ipc|tcp] [--starts 100] [--loops 3]

`./course test` runs it briefly (2 loops of 20 starts, quiet cores), so that the kernel's ipc
transport, which only the class server uses, is tested on every run. The rate above (19 of 264)
was measured with an earlier form of this loop: three loops at once for 400 s, with one
`yes > /dev/null` beside them; this form, with the unpatched build, hung 8 times in 4 minutes.

Run with the course's Python (~/.cache/course-rust/venv/bin/python) after `./course setup`.
Each loop has its own Jupyter server, on loopback, with a random token; its log (debug level,
the kernel's stderr included) goes to a temporary folder, kept (and named) when a start failed.
"""
import argparse
import asyncio
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

ROOT = Path(__file__).resolve().parent.parent
CELL = 'println!("hello {}", 40 + 2);'
HUNG_AFTER = 45      # seconds without the cell's reply: a start that hung (a cell takes ~0.5 s)
LATE_OUTPUT = 1.0    # evcxr can send a cell's output just after its idle status: wait for it


def message(kind, content, session):
    return {"header": {"msg_id": uuid.uuid4().hex, "username": "loop", "session": session,
                       "msg_type": kind, "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [], "content": content}


async def start_and_run(base, headers):
    """One kernel: started, one cell sent as soon as the websocket is open, then shut down.
    Returns what came back: the reply, the idle status, the output."""
    kernel = requests.post(f"{base}/api/kernels", headers=headers, json={"name": "course-rust"},
                           timeout=120).json()["id"]
    ws = await websocket_connect(HTTPRequest(f"{base.replace('http', 'ws', 1)}/api/kernels/{kernel}/channels",
                                             headers=headers))
    seen = {"reply": False, "idle": False, "output": ""}
    try:
        request = message("execute_request", {"code": CELL, "silent": False, "store_history": True,
                                              "user_expressions": {}, "allow_stdin": False,
                                              "stop_on_error": False}, uuid.uuid4().hex)
        await ws.write_message(json.dumps(request))
        deadline = time.monotonic() + HUNG_AFTER
        while time.monotonic() < deadline:
            try:
                raw = await asyncio.wait_for(ws.read_message(), deadline - time.monotonic())
            except asyncio.TimeoutError:
                break
            if raw is None:
                break
            reply = json.loads(raw)
            if reply["parent_header"].get("msg_id") != request["header"]["msg_id"]:
                continue
            kind = reply["msg_type"]
            seen["reply"] |= kind == "execute_reply"
            seen["idle"] |= kind == "status" and reply["content"]["execution_state"] == "idle"
            if kind == "stream":
                seen["output"] += reply["content"]["text"]
            if seen["reply"] and seen["idle"]:
                deadline = min(deadline, time.monotonic() + LATE_OUTPUT)
    finally:
        ws.close()
        requests.delete(f"{base}/api/kernels/{kernel}", headers=headers, timeout=60)
    return kernel, seen


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def loop(number, args, logs, results):
    port = free_port()
    token = uuid.uuid4().hex
    log = open(logs / f"server-{number}.log", "w")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "jupyter"), "server", "--no-browser", "--allow-root",
         "--ServerApp.ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}",
         f"--KernelManager.transport={args.transport}", "--ServerApp.log_level=DEBUG",
         f"--ServerApp.root_dir={ROOT / 'notebooks'}"],
        stdout=log, stderr=subprocess.STDOUT)
    base, headers = f"http://127.0.0.1:{port}", {"Authorization": f"token {token}"}
    try:
        for _ in range(100):
            try:
                requests.get(f"{base}/api", headers=headers, timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.3)
        for start in range(args.starts):
            kernel, seen = asyncio.run(start_and_run(base, headers))
            ran = seen["reply"] and seen["idle"] and "hello 42" in seen["output"]
            results.append(ran)
            if not ran:
                print(f"loop {number}, start {start}: kernel {kernel} {seen}", flush=True)
    finally:
        server.terminate()
        server.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transport", choices=["ipc", "tcp"], default="ipc")
    parser.add_argument("--starts", type=int, default=100, help="kernel starts per loop")
    parser.add_argument("--loops", type=int, default=3, help="loops at once, each with its own server")
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="kernel-start-loop-"))
    results = []
    threads = [threading.Thread(target=loop, args=(n, args, logs, results)) for n in range(1, args.loops + 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failed = results.count(False)
    print(f"{args.transport}: {failed} of {len(results)} starts did not run their cell")
    if len(results) < args.loops * args.starts:  # a loop stopped on an error (printed above)
        print(f"only {len(results)} of {args.loops * args.starts} starts were made")
        failed += 1
    if failed:
        print(f"the Jupyter servers' logs: {logs}")
        sys.exit(1)
    shutil.rmtree(logs)


if __name__ == "__main__":
    main()
