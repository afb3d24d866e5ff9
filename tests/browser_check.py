"""What a student and a teacher see, checked in a real browser (headless Chromium, Debian's
`chromium` package, installed here if missing):

1. `./course html`'s output for two lessons (executed in quick mode into a temporary folder) and
   its index page: the index links every lesson, and each lesson's page, as Chromium renders it,
   holds its figures (PNG images and SVG documents; counted, not compared pixel by pixel).
2. JupyterLab, started on 127.0.0.1 with a token of the test's own, showing a lesson: the page
   Chromium renders holds the notebook and its text; the same lesson as slides (RISE); and the
   server lists nothing without the token.

Screenshots of each go to build/screenshots/. Skips, saying why, only where Chromium cannot be
installed. Usage: browser_check.py   (after ./course setup; ./course test runs it)
"""
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
SHOTS = ROOT / "build" / "screenshots"
LESSONS = ["00-introduction", "04-conv-ae"]


def apt_install(package):
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    print(f"browser check: installing Debian's {package}")
    subprocess.run(sudo + ["apt-get", "install", "-y", package], capture_output=True)


def chromium():
    """Chromium, and a Korean font (the slides' titles are Korean; without one they render as boxes)."""
    found = next((shutil.which(n) for n in ["chromium", "chromium-browser", "google-chrome"] if shutil.which(n)), None)
    if not found:
        apt_install("chromium")
        found = shutil.which("chromium")
    fonts = subprocess.run(["fc-list", ":lang=ko"], capture_output=True, text=True).stdout if shutil.which("fc-list") else ""
    if found and not fonts.strip():
        apt_install("fonts-nanum")
    return found


sys.path.insert(0, str(ROOT / "scripts"))
from html_index import figures  # noqa: E402  (the index page counts figures the same way)


def browse(browser, url, screenshot=None, wait_ms=5000):
    """The DOM Chromium renders for `url` (after `wait_ms` of virtual time), and a screenshot."""
    base = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            f"--virtual-time-budget={wait_ms}", "--window-size=1280,2000"]
    if screenshot:
        subprocess.run(base + [f"--screenshot={screenshot}", url], capture_output=True, timeout=180)
    dom = subprocess.run(base + ["--dump-dom", url], capture_output=True, text=True, timeout=180)
    return dom.stdout


def check(condition, message, failures):
    print(("  ok    " if condition else "  FAIL  ") + message)
    if not condition:
        failures.append(message)


def executed_html(out):
    env = dict(os.environ, COURSE_MODE="quick")
    for lesson in LESSONS:
        subprocess.run(
            [str(VENV_BIN / "jupyter"), "nbconvert", "--to", "html", "--execute",
             "--ExecutePreprocessor.kernel_name=course-rust", "--ExecutePreprocessor.timeout=1800",
             "--output-dir", str(out), str(ROOT / "notebooks" / f"{lesson}.ipynb")],
            check=True, env=env, capture_output=True, cwd=ROOT / "notebooks",
        )
    subprocess.run([sys.executable, str(ROOT / "scripts" / "html_index.py"), str(out)], check=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    browser = chromium()
    if not browser:
        print("browser check SKIPPED: Chromium is not installed and could not be installed (apt-get install chromium)")
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        executed_html(out)
        print("HTML of the executed lessons, and the index:")
        index = browse(browser, (out / "index.html").as_uri(), SHOTS / "index.png", 2000)
        for lesson in LESSONS:
            check(f'href="{lesson}.html"' in index, f"the index links {lesson}", failures)
        for lesson in LESSONS:
            dom = browse(browser, (out / f"{lesson}.html").as_uri(), SHOTS / f"{lesson}.png")
            count = figures(dom)
            check(count >= 2, f"{lesson}.html renders {count} figures (at least 2)", failures)
    print("JupyterLab with a lesson open:")
    port, token = free_port(), secrets.token_hex(16)
    lab = subprocess.Popen(
        [str(VENV_BIN / "jupyter"), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT / 'notebooks'}", "--allow-root"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(60):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(1)
        url = f"http://127.0.0.1:{port}/lab/tree/00-introduction.ipynb?token={token}"
        dom = browse(browser, url, SHOTS / "jupyterlab.png", 30000)
        check("jp-Notebook" in dom, "JupyterLab renders a notebook panel", failures)
        check("Representation learning" in dom, "the notebook's text is on the page", failures)
        slides = browse(browser, f"http://127.0.0.1:{port}/rise/00-introduction.ipynb?token={token}", SHOTS / "slides.png", 30000)
        check('class="reveal' in slides, "the lesson opens as slides (RISE, reveal.js)", failures)
        denied = browse(browser, f"http://127.0.0.1:{port}/api/contents", None, 2000)
        check("00-introduction" not in denied, "without the token the server lists nothing", failures)
    finally:
        lab.terminate()
        lab.wait(timeout=30)
    print(f"screenshots in {SHOTS}")
    if failures:
        sys.exit(f"browser check: {len(failures)} failed")


if __name__ == "__main__":
    main()
