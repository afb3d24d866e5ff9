"""Runs every notebook in notebooks/ (the lessons) and tests/notebooks/ (notebooks written as tests)
top to bottom through a real Jupyter kernel manager (nbclient) with the course's Rust kernel, in
quick mode, and fails on any error output, except in cells tagged `raises-exception`: those must
fail, with a short message (no backtrace), and the cells after them must still run.

Before running, it checks that every lesson's cells carry the slideshow metadata of
scripts/slides.py (a teacher presents them as slides).

Usage: run_notebooks.py [NOTEBOOK ...]   (default: all of notebooks/*.ipynb and tests/notebooks/*.ipynb)
Prints the seconds each cell took, so that slow cells show up. Runs two lessons at a time
(COURSE_NOTEBOOK_JOBS=1: one).
"""
import concurrent.futures
import contextlib
import io
import os
import queue
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionComplete
from nbclient.util import ensure_async

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
TEST_NOTEBOOKS = ROOT / "tests" / "notebooks"


def late_seconds(cell):
    """How long a cell's late messages are awaited after the kernel's idle (LateOutputClient):
    longer for a cell expected to fail, whose error is the late message."""
    return 0.5 if "raises-exception" in cell.metadata.get("tags", []) else 0.1


class LateOutputClient(NotebookClient):
    """nbclient stops listening to a cell at the kernel's idle message, but evcxr prints the
    error of a cell whose `?` met an Err to stderr from another thread, which can arrive just
    after idle (a cell tagged raises-exception then read as "ran", one run in three here). So
    after idle, the cell's own late messages are still collected for a moment."""

    async def _async_poll_output_msg(self, parent_msg_id, cell, cell_index):
        await super()._async_poll_output_msg(parent_msg_id, cell, cell_index)
        deadline = time.monotonic() + late_seconds(cell)
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = await ensure_async(self.kc.iopub_channel.get_msg(timeout=left))
            except queue.Empty:
                return
            if msg["parent_header"].get("msg_id") == parent_msg_id:
                try:
                    self.process_message(msg, cell, cell_index)
                except CellExecutionComplete:
                    pass


def run(path):
    nb = nbformat.read(path, as_version=4)
    client = LateOutputClient(
        nb,
        kernel_name="course-rust",
        timeout=1800,
        startup_timeout=300,
        allow_errors=True,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    start = time.monotonic()
    client.execute()
    total = time.monotonic() - start
    failures = judge(path.name, nb)
    print(f"  {path.name}: {total:.1f} s")
    return failures


def judge(name, nb):
    """The failures of an executed notebook (printing each code cell's first line and seconds):
    any error output or panic, or a `raises-exception` cell that ran, or failed with a backtrace.
    The class server's test (hub_check.py) judges the notebooks it runs through the hub with it."""
    failures = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("execution", {})
        seconds = ""
        if "iopub.execute_input" in meta and "shell.execute_reply" in meta:
            from datetime import datetime
            t0 = datetime.fromisoformat(meta["iopub.execute_input"].replace("Z", "+00:00"))
            t1 = datetime.fromisoformat(meta["shell.execute_reply"].replace("Z", "+00:00"))
            seconds = f"{(t1 - t0).total_seconds():6.1f} s"
        first_line = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
        print(f"  cell {index:2d} {seconds:>9}  {first_line[:70]}")
        expected = "raises-exception" in cell.metadata.get("tags", [])
        errors = []
        for output in cell.get("outputs", []):
            text = output.get("text", "") if output.output_type == "stream" else ""
            # A cell whose `?` meets an Err prints the error to stderr (evcxr shows no error
            # output for it) and loses the cell's variables: that fails too. The library's own
            # notices on stderr start with "warning:".
            stderr = output.output_type == "stream" and output.get("name") == "stderr"
            failed_call = stderr and any(line.strip() and not line.startswith("warning:") for line in text.splitlines())
            if output.output_type == "error" or "panicked" in text or failed_call:
                detail = "\n".join(output.get("traceback", [])) or output.get("evalue", "") or text
                errors.append(re.sub(r"\x1b\[[0-9;]*m", "", detail))  # the kernel colours its errors
        if expected:
            message = "\n".join(errors)
            print("    (expected to fail) " + message.strip().replace("\n", "\n    " + " " * 20)[:400])
            if not errors:
                failures.append(f"{name}, cell {index}:\n{cell.source}\n--- expected an error, and it ran ---")
            elif "stack backtrace" in message or "rust_begin_unwind" in message:
                failures.append(f"{name}, cell {index}:\n{cell.source}\n--- the error came with a backtrace ---\n{message}")
        elif errors:
            failures.append(f"{name}, cell {index}:\n{cell.source}\n--- error ---\n" + "\n".join(errors))
    return failures


def run_group(paths):
    """Runs `paths` one after another (a lesson, then its solutions, which may load the lesson's
    checkpoints); returns what it printed and the failures."""
    out = io.StringIO()
    failures = []
    with contextlib.redirect_stdout(out):
        for path in paths:
            print(f"{path.name}")
            failures += run(path)
    return out.getvalue(), failures


def groups(paths):
    """The notebooks by lesson number (`04-…` and `04s-…` together), in order; a notebook without
    a number is a group of its own."""
    by_lesson = {}
    for path in paths:
        number = re.match(r"(\d+)", path.name)
        by_lesson.setdefault(number.group(1) if number else path.name, []).append(path)
    return list(by_lesson.values())


def main():
    os.environ["COURSE_MODE"] = "quick"
    paths = [Path(p) for p in sys.argv[1:]] or sorted(NOTEBOOKS.glob("*.ipynb")) + sorted(TEST_NOTEBOOKS.glob("*.ipynb"))
    import subprocess
    subprocess.run([sys.executable, str(ROOT / "scripts" / "slides.py"), "--check"], check=True)
    # Two lessons at a time (COURSE_NOTEBOOK_JOBS): a notebook's kernel spends much of its time in
    # rustc on one core, compiling cells. Each group's log is printed whole when it ends.
    jobs = max(1, int(os.environ.get("COURSE_NOTEBOOK_JOBS", "2")))
    failures = []
    start = time.monotonic()
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs) as pool:
        for log, group_failures in pool.map(run_group, groups(paths)):
            print(log, end="", flush=True)
            failures += group_failures
    if failures:
        print("\n\n".join(failures), file=sys.stderr)
        sys.exit(f"{len(failures)} notebook cell(s) failed")
    print(f"{len(paths)} notebooks ran without errors in {time.monotonic() - start:.0f} s ({jobs} at a time)")


if __name__ == "__main__":
    main()
