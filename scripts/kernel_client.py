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

    def close(self):
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)
