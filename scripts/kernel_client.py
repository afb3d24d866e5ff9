"""Drives the course's Rust kernel through a real Jupyter kernel manager.

Shared by the set-up (warming the build template), the notebook tests and the timing script.
"""
import os
import time
from pathlib import Path

from jupyter_client.manager import KernelManager

KERNEL_NAME = "course-rust"
ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


class RustKernel:
    """A started kernel; `run(code)` executes one cell and returns (seconds, outputs, error)."""

    def __init__(self, env=None, cwd=NOTEBOOKS, startup_timeout=120):
        kernel_env = dict(os.environ)
        kernel_env.update(env or {})
        self.km = KernelManager(kernel_name=KERNEL_NAME)
        self.km.start_kernel(cwd=str(cwd), env=kernel_env)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=startup_timeout)

    def run(self, code, timeout=3600):
        start = time.monotonic()
        msg_id = self.kc.execute(code)
        outputs, error = [], None
        while True:
            msg = self.kc.get_iopub_msg(timeout=timeout)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "status" and content["execution_state"] == "idle":
                break
            if kind == "stream":
                outputs.append(content["text"])
            elif kind in ("execute_result", "display_data"):
                outputs.append(next(iter(content["data"].values())))
            elif kind == "error":
                error = "\n".join([content.get("ename", ""), content.get("evalue", "")] + content.get("traceback", []))
        reply = self.kc.get_shell_msg(timeout=timeout)
        if reply["content"]["status"] != "ok" and error is None:
            error = f"{reply['content'].get('ename', 'error')}: {reply['content'].get('evalue', '')}"
        return time.monotonic() - start, "".join(o for o in outputs if isinstance(o, str)), error

    def complete(self, code, cursor_pos=None, timeout=120):
        """What Tab offers at `cursor_pos` (default: the end) of `code`: (seconds, matches)."""
        start = time.monotonic()
        msg_id = self.kc.complete(code, len(code) if cursor_pos is None else cursor_pos)
        while True:
            reply = self.kc.get_shell_msg(timeout=timeout)
            if reply["parent_header"].get("msg_id") == msg_id:
                return time.monotonic() - start, reply["content"].get("matches", [])

    def memory(self):
        """The kernel's processes (evcxr_jupyter, which compiles cells, and its child, which runs
        them) as (pid, name, resident MB, proportional MB), read from /proc."""
        pids = [self.km.provisioner.process.pid]
        for pid in list(pids):
            for task in Path(f"/proc/{pid}/task").iterdir():
                pids += [int(c) for c in (task / "children").read_text().split()]
        rows = []
        for pid in pids:
            status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
            pss = next(int(line.split()[1]) for line in rollup if line.startswith("Pss:"))
            rows.append((pid, status["Name"].strip(), int(status["VmRSS"].split()[0]) / 1024, pss / 1024))
        return rows

    def close(self):
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)
