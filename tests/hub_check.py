"""The class server tested as a class uses it: `./course server-test` (as root; a few minutes, so it
is run on demand and is not part of `./course test`).

It starts the hub of scripts/jupyterhub_config.py on 127.0.0.1 (free ports, a state folder of its
own, the installed class server of `./course server-setup`), makes three students (system users,
through `class-server.sh student`, with their generated passwords), logs each in through the hub's
login form (PAM, as a class logs in), and runs one notebook for each at the same time through the
hub's REST API and the kernel's websocket, in each student's own copy of the notebooks; each run is
judged as tests/run_notebooks.py judges a notebook. The students reach the hub as in production:
through nginx with TLS, configured by deploy/nginx-course.conf (a self-signed certificate; nginx is
installed if missing; COURSE_HUB_TEST_TLS=0 talks to the hub directly). Then it checks isolation (no student reads
another's notebooks or build slots, nobody writes the shared release, everything listens on
127.0.0.1), and prints the hub's start time and each student's disk and peak memory.

Environment: COURSE_HUB_TEST_NOTEBOOK (default 02-stacked-ae.ipynb; a comma-separated list gives
the students different lessons, in turn), COURSE_MODE (default quick;
class gives the sizing figures of README), COURSE_HUB_TEST_STUDENTS (default 3),
COURSE_HUB_TEST_KEEP=1 keeps the test's users and hub state afterwards.
"""
import asyncio
import json
import os
import pwd
import re
import secrets
import signal
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import nbformat
import requests
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_notebooks import judge, late_seconds  # noqa: E402

SERVER = Path(os.environ.get("COURSE_SERVER_DIR", "/opt/course"))
RELEASE = SERVER / "current"
VENV = SERVER / "cache" / "venv"
NOTEBOOKS = os.environ.get("COURSE_HUB_TEST_NOTEBOOK", "02-stacked-ae.ipynb").split(",")
MODE = os.environ.get("COURSE_MODE", "quick")
STUDENTS = [f"course-test-{i}" for i in range(1, int(os.environ.get("COURSE_HUB_TEST_STUDENTS", "3")) + 1)]
KEEP = os.environ.get("COURSE_HUB_TEST_KEEP") == "1"
TLS = os.environ.get("COURSE_HUB_TEST_TLS", "1") != "0"
MB = 1024 * 1024
VERIFY = True  # the certificate the students' requests trust (the test's own, with TLS)
PRINTING = threading.Lock()
BASE = ""  # where the students' browsers open the hub


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_students():
    """Fresh users (a previous run's are removed first, so that the disk figures start at zero);
    returns {name: password}."""
    for name in STUDENTS:
        if subprocess.run(["id", name], capture_output=True).returncode == 0:
            subprocess.run(["pkill", "-u", name], capture_output=True)
            time.sleep(0.5)
            subprocess.run(["userdel", "--remove", name], capture_output=True)
    out = subprocess.run([str(RELEASE / "course/scripts/class-server.sh"), "student", *STUDENTS],
                         capture_output=True, text=True, check=True).stdout
    passwords = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    assert set(passwords) == set(STUDENTS), out
    return passwords


class Memory(threading.Thread):
    """Samples, every 0.25 s, each student's processes (their Jupyter server, kernel, cargo and
    rustc): peak of the summed resident set (RSS) and of the summed proportional set (PSS: shared
    pages, the release's course-lib and burn among them, divided among the processes mapping them,
    so what one student adds to the machine); and the hub's own processes (the hub and its proxy)."""

    def __init__(self, uids, hub_pids):
        super().__init__(daemon=True)
        self.uids, self.hub_pids = uids, hub_pids
        self.peak_rss = {u: 0 for u in uids}
        self.peak_pss = {u: 0 for u in uids}
        self.hub_peak = 0
        self.stop = threading.Event()

    @staticmethod
    def read(pid):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            return None
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pss = next((int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:")), 0)
        rss = int(fields.get("VmRSS", "0 kB").split()[0]) if "VmRSS" in fields else 0
        return int(fields["Uid"].split()[0]), int(fields["PPid"]), rss * 1024, pss * 1024

    def wanted(self, pid):
        """A student's process, the hub or a child of the hub (the proxy, the culler): reading
        smaps_rollup costs, so only those are read."""
        try:
            if os.stat(f"/proc/{pid}").st_uid in self.peak_rss or int(pid) in self.hub_pids:
                return True
            parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            return parent in self.hub_pids
        except (OSError, ValueError, IndexError):
            return False

    def run(self):
        while not self.stop.is_set():
            rss = {u: 0 for u in self.uids}
            pss = {u: 0 for u in self.uids}
            procs = {}
            for entry in os.listdir("/proc"):
                if entry.isdigit() and self.wanted(entry) and (info := self.read(entry)):
                    procs[int(entry)] = info
            hub = 0
            for pid, (uid, ppid, r, p) in procs.items():
                if uid in rss:
                    rss[uid] += r
                    pss[uid] += p
                elif pid in self.hub_pids or ppid in self.hub_pids:
                    hub += r
            for u in self.uids:
                self.peak_rss[u] = max(self.peak_rss[u], rss[u])
                self.peak_pss[u] = max(self.peak_pss[u], pss[u])
            self.hub_peak = max(self.hub_peak, hub)
            self.stop.wait(0.25)


def browser():
    """A requests session that sends what a browser sends: the page's origin, and trusts the
    test's certificate."""
    web = requests.Session()
    web.trust_env = False  # else REQUESTS_CA_BUNDLE, where set, replaces the certificate below
    web.verify = VERIFY
    web.headers["Origin"] = BASE
    return web


async def run_cells(ws_url, token, nb):
    """Executes nb's code cells in order on the kernel behind ws_url, filling in their outputs."""
    ws = await websocket_connect(HTTPRequest(
        ws_url, headers={"Authorization": f"token {token}", "Origin": BASE},
        ca_certs=VERIFY if isinstance(VERIFY, str) else None))
    session = uuid.uuid4().hex
    try:
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            msg_id = uuid.uuid4().hex
            await ws.write_message(json.dumps({
                "header": {"msg_id": msg_id, "username": "course-test", "session": session,
                           "msg_type": "execute_request", "version": "5.3"},
                "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                "content": {"code": cell.source, "silent": False, "store_history": True,
                            "user_expressions": {}, "allow_stdin": False, "stop_on_error": False},
            }))
            cell.outputs = []
            replied = idle = False
            deadline = None
            while True:
                timeout = 1800 if deadline is None else max(deadline - time.monotonic(), 0.0)
                try:
                    raw = await asyncio.wait_for(ws.read_message(), timeout)
                except asyncio.TimeoutError:
                    if deadline is None:
                        raise
                    break  # the late messages' moment is over (run_notebooks.py, LateOutputClient)
                if raw is None:
                    raise RuntimeError("the kernel's websocket closed")
                msg = json.loads(raw)
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = msg["msg_type"]
                if msg["channel"] == "shell" and kind == "execute_reply":
                    replied = True
                elif kind == "status" and msg["content"]["execution_state"] == "idle":
                    idle = True
                elif kind in ("stream", "display_data", "execute_result", "error"):
                    cell.outputs.append(nbformat.v4.output_from_msg(msg))
                if replied and idle and deadline is None:
                    deadline = time.monotonic() + late_seconds(cell)
    finally:
        ws.close()


class Student:
    def __init__(self, name, password, base, admin, notebook):
        self.name, self.password, self.base, self.admin = name, password, base, admin
        self.notebook = notebook
        self.uid = pwd.getpwnam(name).pw_uid
        self.home = Path(pwd.getpwnam(name).pw_dir)
        self.failures, self.seconds, self.kernel_hwm, self.idle_pss = [], {}, 0, 0

    def api(self, method, path, **kw):
        r = requests.request(method, f"{self.base}/hub/api{path}", verify=VERIFY,
                             headers={"Authorization": f"token {self.admin}"}, timeout=60, **kw)
        r.raise_for_status()
        return r.json() if r.content else None

    def login(self):
        """The login form, as a browser sends it; then the hub spawns the student's server."""
        start = time.monotonic()
        web = browser()
        web.get(f"{self.base}/hub/login", timeout=60)
        form = {"username": self.name, "password": self.password, "_xsrf": web.cookies.get("_xsrf", "")}
        r = web.post(f"{self.base}/hub/login?next=/hub/spawn", data=form, allow_redirects=False, timeout=60)
        if r.status_code != 302:
            raise RuntimeError(f"{self.name}: login refused ({r.status_code})")
        web.get(f"{self.base}/hub/spawn", timeout=120)  # what the browser opens next
        while not (self.api("GET", f"/users/{self.name}").get("servers", {}).get("", {}).get("ready")):
            if time.monotonic() - start > 180:
                raise RuntimeError(f"{self.name}: the server did not start in 180 s")
            time.sleep(0.5)
        self.seconds["login and server start"] = time.monotonic() - start
        self.idle_pss = sum(info[3] for pid in os.listdir("/proc")
                            if pid.isdigit() and (info := Memory.read(pid)) and info[0] == self.uid)
        self.token = self.api("POST", f"/users/{self.name}/tokens", json={"note": "course server test", "expires_in": 3600})["token"]

    def user_api(self, method, path, **kw):
        r = requests.request(method, f"{self.base}/user/{self.name}/api{path}", verify=VERIFY,
                             headers={"Authorization": f"token {self.token}"}, timeout=60, **kw)
        if not r.ok:
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:2000]}")
        return r.json() if r.content else None

    def run_notebook(self):
        start = time.monotonic()
        model = self.user_api("GET", f"/contents/{self.notebook}?content=1")  # the student's own copy
        nb = nbformat.from_dict(model["content"])
        session = self.user_api("POST", "/sessions", json={
            "path": self.notebook, "name": self.notebook, "type": "notebook", "kernel": {"name": "course-rust"}})
        kernel = session["kernel"]["id"]
        ws_url = f"{self.base.replace('http', 'ws', 1)}/user/{self.name}/api/kernels/{kernel}/channels"
        asyncio.run(run_cells(ws_url, self.token, nb))
        self.seconds["notebook"] = time.monotonic() - start
        self.kernel_hwm = kernel_peak(self.uid)
        # Saved as JupyterLab saves it: the student's copy now holds their run (a course update
        # would keep it, scripts/sync_notebooks.py).
        self.user_api("PUT", f"/contents/{self.notebook}", json={"type": "notebook", "format": "json", "content": nb})
        self.user_api("DELETE", f"/sessions/{session['id']}")
        with PRINTING:  # one student's cells at a time
            print(f"{self.name}: {self.notebook}")
            self.failures += judge(f"{self.name}: {self.notebook}", nb)

    def __call__(self):
        try:
            self.login()
            self.run_notebook()
        except Exception as e:  # reported with the others: one student's failure is a result
            self.failures.append(f"{self.name}: {type(e).__name__}: {e}")


def kernel_peak(uid):
    """The peak resident set (VmHWM) of the student's kernel: evcxr_jupyter and the child process
    it runs the cells in (each one's peak, summed)."""
    peak = 0
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and os.stat(f"/proc/{entry}").st_uid == uid:
                if Path(f"/proc/{entry}/comm").read_text().strip().startswith("evcxr"):
                    status = Path(f"/proc/{entry}/status").read_text()
                    line = next(line for line in status.splitlines() if line.startswith("VmHWM"))
                    peak += int(line.split()[1]) * 1024
        except (OSError, StopIteration):
            pass
    return peak


def start_nginx(state, hub_port):
    """nginx with deploy/nginx-course.conf in front of the hub, on 127.0.0.1 with a certificate of
    the test's own; returns (process, https port, certificate)."""
    if not shutil.which("nginx"):
        subprocess.run(["apt-get", "install", "-y", "nginx"], check=True, capture_output=True)
        # Debian's package starts its own server on port 80 where it can: not the test's.
        subprocess.run(["nginx", "-s", "stop"], capture_output=True)
    cert, key = state / "cert.pem", state / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    port = free_port()
    site = (RELEASE / "course/deploy/nginx-course.conf").read_text()
    for old, new in [("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;"),
                     ("/etc/letsencrypt/live/course.example.org/fullchain.pem", str(cert)),
                     ("/etc/letsencrypt/live/course.example.org/privkey.pem", str(key)),
                     ("proxy_pass http://127.0.0.1:8000;", f"proxy_pass http://127.0.0.1:{hub_port};")]:
        assert old in site, f"deploy/nginx-course.conf no longer has {old!r}: update the test"
        site = site.replace(old, new)
    (state / "course.conf").write_text(site)
    # nginx's workers run as www-data (as Debian's own nginx.conf has it) and buffer uploads in
    # the temporary folders: theirs, inside the test's state folder.
    temp = state / "nginx-temp"
    temp.mkdir()
    shutil.chown(temp, "www-data", "www-data")
    state.chmod(0o711)
    (state / "nginx.conf").write_text(f"""
user www-data;
worker_processes 1;
daemon off;
pid {state}/nginx.pid;
error_log {state}/nginx-error.log;
events {{}}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {state}/course.conf;
}}
""")
    proc = subprocess.Popen(["nginx", "-p", str(state), "-c", str(state / "nginx.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port, str(cert)
        time.sleep(0.1)
    sys.exit(f"nginx did not start: {(state / 'nginx-error.log').read_text()[-2000:]}")


def du(path):
    out = subprocess.run(["du", "-s", "--block-size=1", str(path)], capture_output=True, text=True).stdout
    return int(out.split()[0]) if out else 0


def as_user(name, *command):
    return subprocess.run(["runuser", "-u", name, "--", *command], capture_output=True).returncode == 0


def isolation(students, ports):
    """Failures: a student reading another's files, writing the release, or anything of the
    class server's listening beyond 127.0.0.1."""
    failures = []
    for a in students:
        if not as_user(a.name, "test", "-r", str(a.home / "course" / a.notebook)):
            failures.append(f"{a.name} cannot read their own notebook")
        for b in students:
            if a is b:
                continue
            for what in [b.home / "course" / b.notebook, b.home / ".cache/course-rust/kernels"]:
                if as_user(a.name, "ls", str(what)):
                    failures.append(f"{a.name} can read {what}")
        if as_user(a.name, "touch", str(RELEASE / "template/written-by-a-student")):
            failures.append(f"{a.name} can write the shared release")
    student_uids = {s.uid for s in students}
    for line in subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True).stdout.splitlines():
        local = line.split()[3]
        owners = set()
        for pid in re.findall(r"pid=(\d+)", line):
            try:
                owners.add(os.stat(f"/proc/{pid}").st_uid)
            except OSError:
                pass
        ours = owners & student_uids or int(local.rsplit(":", 1)[1]) in ports
        if ours and not local.startswith("127.0.0.1:"):
            failures.append(f"listening beyond 127.0.0.1: {line}")
    return failures


def private_state(state):
    """The test's state folder (the service token in the config, the hub's database, cookie secret
    and log, the TLS key) open to its owner alone; only nginx's temporary folder is www-data's."""
    failures = []
    for path in state.rglob("*"):
        if path.is_relative_to(state / "nginx-temp") or path.is_symlink():
            continue
        if path.stat().st_mode & 0o077:
            failures.append(f"{path} is open to other users (mode {path.stat().st_mode & 0o777:o}): it holds the hub's secrets")
    return failures


def main():
    if os.geteuid() != 0:
        sys.exit("the class server test runs as root (it makes system users): sudo ./course server-test")
    # The test's state folder holds an admin-scoped service token (the config), the hub's database
    # and its log: every file the test and its hub make is the owner's alone. (nginx's workers
    # still reach their temporary folder through the state folder, made 0711 for them.)
    os.umask(0o077)
    if not (RELEASE / "template/.template-stamp").is_file():
        sys.exit(f"no class server in {SERVER}: run ./course server-setup first")
    passwords = make_students()
    state = Path(tempfile.mkdtemp(prefix="course-hub-test-"))
    port, hub_port, proxy_api = free_port(), free_port(), free_port()
    admin = secrets.token_hex(32)
    config = state / "jupyterhub_config.py"
    config.write_text(f"""
load_subconfig({str(RELEASE / 'course/scripts/jupyterhub_config.py')!r})
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api}"
c.JupyterHub.services.append({{"name": "course-test", "api_token": {admin!r}}})
c.JupyterHub.load_roles.append({{"name": "course-test", "services": ["course-test"],
    "scopes": ["admin:users", "admin:servers", "tokens", "list:users", "read:users", "read:services"]}})
""")
    env = {**os.environ, "COURSE_SERVER_DIR": str(SERVER), "COURSE_HUB_IP": "127.0.0.1",
           "COURSE_HUB_PORT": str(port), "COURSE_HUB_STATE": str(state), "COURSE_MODE": MODE}
    global BASE, VERIFY
    hub_url = BASE = f"http://127.0.0.1:{port}"
    ports = {port, hub_port, proxy_api}
    nginx = None
    if TLS:
        nginx, tls_port, VERIFY = start_nginx(state, port)
        BASE = f"https://127.0.0.1:{tls_port}"
        ports.add(tls_port)
    base = BASE
    log = open(state / "jupyterhub.log", "w")
    started = time.monotonic()
    # SIGINT as a terminal has it, also when the test itself was started in the background (which
    # ignores it, and so would the culler the hub starts: the hub then waits 30 s to stop it).
    hub = subprocess.Popen([str(VENV / "bin/jupyterhub"), "-f", str(config)], cwd=state, env=env,
                           stdout=log, stderr=subprocess.STDOUT,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    students, failures = [], []
    try:
        while True:
            try:
                if requests.get(f"{hub_url}/hub/api/", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if hub.poll() is not None or time.monotonic() - started > 120:
                sys.exit(f"the hub did not start; its log:\n{(state / 'jupyterhub.log').read_text()[-4000:]}")
            time.sleep(0.1)
        hub_start = time.monotonic() - started
        # The idle culler, a service the hub starts and keeps running.
        culler = requests.get(f"{hub_url}/hub/api/services/idle-culler", timeout=30,
                              headers={"Authorization": f"token {admin}"}).json()
        if not culler.get("pid") or not Path(f"/proc/{culler['pid']}").exists():
            failures.append(f"the idle culler is not running: {culler}")
        print(f"hub on {hub_url}: started in {hub_start:.1f} s" + (f"; students reach it through nginx on {base}" if TLS else ""))

        # A wrong password is refused.
        web = browser()
        web.get(f"{base}/hub/login", timeout=60)
        r = web.post(f"{base}/hub/login", data={"username": STUDENTS[0], "password": "wrong",
                     "_xsrf": web.cookies.get("_xsrf", "")}, allow_redirects=False, timeout=60)
        if r.status_code == 302:
            failures.append("a wrong password was accepted")

        students = [Student(n, passwords[n], base, admin, NOTEBOOKS[i % len(NOTEBOOKS)]) for i, n in enumerate(STUDENTS)]
        memory = Memory([s.uid for s in students], {hub.pid})
        memory.start()
        print(f"{len(students)} students log in and run {', '.join(sorted(set(s.notebook for s in students)))} at the same time (COURSE_MODE={MODE})")
        run_start = time.monotonic()
        threads = [threading.Thread(target=s) for s in students]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - run_start
        failures += isolation(students, ports)
        failures += private_state(state)
        memory.stop.set()
        memory.join()
        for s in students:
            failures += s.failures

        print(f"\nall {len(students)} notebooks done in {wall:.1f} s (wall clock, at the same time)")
        print(f"hub start: {hub_start:.1f} s; hub and proxy peak resident memory {memory.hub_peak / MB:.0f} MB")
        print(f"{'student':<15}{'lesson':>7}{'login+start':>12}{'server PSS':>12}{'notebook':>10}{'kernel peak':>13}"
              f"{'peak RSS':>10}{'peak PSS':>10}{'home':>9}{'notebooks':>11}{'slots':>8}")
        for s in students:
            print(f"{s.name:<15}{s.notebook[:2]:>7}{s.seconds.get('login and server start', 0):>11.1f}s{s.idle_pss / MB:>9.0f} MB"
                  f"{s.seconds.get('notebook', 0):>9.1f}s"
                  f"{s.kernel_hwm / MB:>10.0f} MB{memory.peak_rss[s.uid] / MB:>7.0f} MB{memory.peak_pss[s.uid] / MB:>7.0f} MB"
                  f"{du(s.home) / MB:>6.1f} MB{du(s.home / 'course') / MB:>8.1f} MB{du(s.home / '.cache/course-rust/kernels') / MB:>5.1f} MB")
        release = RELEASE.resolve()
        print(f"shared, once for the class: release {release.name} {du(release) / MB:.0f} MB "
              f"(template {du(release / 'template') / MB:.0f} MB), toolchain {du((SERVER / 'toolchain').resolve()) / MB:.0f} MB, "
              f"venv {du(VENV) / MB:.0f} MB")
    finally:
        for s in students:
            try:
                s.api("DELETE", f"/users/{s.name}/server")
            except Exception:
                pass
        hub.terminate()
        stopping = time.monotonic()
        try:
            hub.wait(60)
        except subprocess.TimeoutExpired:
            hub.kill()
        print(f"hub stopped in {time.monotonic() - stopping:.1f} s")
        if nginx:
            nginx.terminate()
            nginx.wait(30)
        log.close()
        if not KEEP:
            time.sleep(1)
            for name in STUDENTS:
                subprocess.run(["pkill", "-u", name], capture_output=True)
            time.sleep(0.5)
            for name in STUDENTS:
                subprocess.run(["userdel", "--remove", name], capture_output=True)
            shutil.rmtree(state, ignore_errors=True)
        else:
            print(f"kept: the users {', '.join(STUDENTS)} and the hub's state in {state}")
    if failures:
        print("\n\n".join(failures), file=sys.stderr)
        sys.exit(f"class server test: {len(failures)} failure(s)")
    print("class server test passed: every student's notebook ran, each in their own copy, isolated")


if __name__ == "__main__":
    main()
