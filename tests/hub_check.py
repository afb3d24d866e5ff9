"""The class server tested as a class uses it, and as one student might attack it:
`./course server-test` (as root; a few minutes, so it is run on demand and is not part of
`./course test`).

It starts the hub of scripts/jupyterhub_config.py on 127.0.0.1 (ports of its own below 1024, a
state folder of its own, the installed class server of `./course server-setup`, the students'
firewall of `class-server.sh firewall`), makes three students and a teacher (system users,
through `class-server.sh student`, with their generated passwords), logs each student in through
the hub's login form (PAM, as a class logs in), and runs one notebook for each at the same time
through the hub's REST API and the kernel's websocket, in each student's own copy of the
notebooks; each run is judged as tests/run_notebooks.py judges a notebook. The students reach the
hub as in production: through nginx with TLS, configured by deploy/nginx-course.conf (a
self-signed certificate; nginx is installed if missing; COURSE_HUB_TEST_TLS=0 talks to the hub
directly).

Meanwhile a fourth student plays the attacks of issue #30 from cells of their own kernel (Rust
cells that run what a student could type): takes the release's files' locks before the others
start, reads a classmate's notebook, build slots and server token, subscribes to a classmate's
kernel output, reads the hub's secrets and the test's tokens, binds the hub's ports, reaches the
network (a cloud's metadata service, the internet), fills their disk, starts a fork bomb and
allocates past their memory limit; logins as the teacher with wrong passwords are tried; and
when their server stops, nothing of theirs may be left running. Each attack must be refused or
contained, and the three students must still finish: a table of attack, expected and observed is
printed. Then it checks isolation (no student reads another's notebooks or build slots, nobody
writes the shared release, everything listens on 127.0.0.1, no kernel on a TCP port), and prints
the hub's start time and each student's disk and peak memory.

Environment: COURSE_HUB_TEST_NOTEBOOK (default 02-stacked-ae.ipynb; a comma-separated list gives
the students different lessons, in turn), COURSE_MODE (default quick;
class gives the sizing figures of README), COURSE_HUB_TEST_STUDENTS (default 3),
COURSE_HUB_TEST_ATTACK=0 leaves the fourth student out (the students' figures alone),
COURSE_HUB_TEST_KEEP=1 keeps the test's users and hub state afterwards.
"""
import asyncio
import json
import os
import pwd
import re
import secrets
import shlex
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
ATTACK = os.environ.get("COURSE_HUB_TEST_ATTACK", "1") != "0"
ATTACKER = "course-test-x"  # the fourth student, who attacks
TEACHER = "course-test-teacher"  # an admin of the hub, whose login the attacker tries
USERS = STUDENTS + [ATTACKER, TEACHER]
KEEP = os.environ.get("COURSE_HUB_TEST_KEEP") == "1"
TLS = os.environ.get("COURSE_HUB_TEST_TLS", "1") != "0"
MB = 1024 * 1024
VERIFY = True  # the certificate the students' requests trust (the test's own, with TLS)
PRINTING = threading.Lock()
BASE = ""  # where the students' browsers open the hub
HTTP_BASE = ""  # the same over plain http (nginx's redirect), with TLS


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_privileged_ports(count):
    """count consecutive free ports below 1024 (where only root listens), as the hub's are."""
    for first in range(700, 1000 - count):
        try:
            held = []
            for port in range(first, first + count):
                s = socket.socket()
                held.append(s)
                s.bind(("127.0.0.1", port))
            return list(range(first, first + count))
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    sys.exit("no free ports below 1024 for the test's hub")


def remove_user(name):
    """The user, their processes, their mounted home volume and its image, gone."""
    if subprocess.run(["id", name], capture_output=True).returncode != 0:
        return
    subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True)
    time.sleep(0.5)
    home = pwd.getpwnam(name).pw_dir
    if os.path.ismount(home):
        subprocess.run(["umount", home], capture_output=True)
    subprocess.run(["userdel", "--remove", name], capture_output=True)
    (SERVER / "volumes" / f"{name}.img").unlink(missing_ok=True)
    for controller in ("memory", "pids", "cpu"):
        for folder in (Path("/sys/fs/cgroup") / controller / "course-students" / name,
                       Path("/sys/fs/cgroup/course-students") / name):
            try:
                folder.rmdir()
            except OSError:
                pass


def make_students():
    """Fresh users (a previous run's are removed first, so that the disk figures start at zero);
    returns {name: password}."""
    for name in USERS:
        remove_user(name)
    out = subprocess.run([str(RELEASE / "course/scripts/class-server.sh"), "student", *USERS],
                         capture_output=True, text=True, check=True).stdout
    passwords = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    assert set(passwords) == set(USERS), out
    return passwords


def cgroup_value(name, controller, file):
    """A value of the student's control group (cgroup v1, as on the course's machines), or None."""
    try:
        text = (Path("/sys/fs/cgroup") / controller / "course-students" / name / file).read_text()
    except OSError:
        return None
    if file in ("memory.oom_control", "pids.events"):
        return dict(line.split() for line in text.splitlines())
    return int(text.split()[0])


class Memory(threading.Thread):
    """Samples, every 0.25 s, each student's processes (their Jupyter server, kernel, cargo and
    rustc): peak of the summed resident set (RSS) and of the summed proportional set (PSS: shared
    pages, the release's course-lib and burn among them, divided among the processes mapping them,
    so what one student adds to the machine); and the hub's own processes (the hub and its proxy)."""

    def __init__(self, uids, hub_pids, others=()):
        super().__init__(daemon=True)
        self.uids, self.hub_pids, self.others = uids, hub_pids, set(others)
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
                elif uid in self.others:
                    continue
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
                if msg["msg_type"] == "status" and msg["content"]["execution_state"] in ("restarting", "dead"):
                    # Jupyter's server says so when the kernel process itself has ended.
                    raise RuntimeError(f"the kernel process ended ({msg['content']['execution_state']})")
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


def shell_cell(script):
    """A Rust cell that runs a bash script as the student's kernel would (any student can write
    it), and prints its exit status and output."""
    return ('let o = std::process::Command::new("bash").arg("-c").arg(r####"' + script + '"####)'
            '.output().expect("bash");\n'
            'println!("rc={}", o.status.code().unwrap_or(-1));\n'
            'print!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));')


def text_of(outputs):
    parts = []
    for out in outputs:
        if out.get("output_type") == "stream":
            parts.append(out["text"])
        elif out.get("output_type") == "error":
            parts.append(f"{out['ename']}: {out['evalue']}\n" + "\n".join(out.get("traceback", [])))
        elif "data" in out:
            parts.append(out["data"].get("text/plain", ""))
    return "".join(parts)


def got_through(text):
    """Lines of a probe's output: `READ ...` where it got through, else why it was refused."""
    got = [line for line in text.splitlines() if line.startswith("READ ")]
    return got


def probe(paths):
    """A bash script that tries to read each path (a folder: to list it) and prints READ or
    refused for each."""
    lines = []
    for p in paths:
        q = shlex.quote(str(p))
        lines.append(f'if out=$(if [ -d {q} ]; then ls {q}; else head -c 64 {q}; fi 2>&1); '
                     f'then echo "READ {p}"; else echo "refused {p}: ${{out##*: }}"; fi')
    return "\n".join(lines)


class Watch(threading.Thread):
    """Samples, as root, one value every 0.1 s until stopped: the peak is kept."""

    def __init__(self, read):
        super().__init__(daemon=True)
        self.read, self.peak, self.stop = read, None, threading.Event()

    def run(self):
        while not self.stop.is_set():
            value = self.read()
            if value is not None and (self.peak is None or value > self.peak):
                self.peak = value
            self.stop.wait(0.1)

    def result(self):
        self.stop.set()
        self.join()
        return self.peak


class Attacker(Student):
    """The fourth student: logs in as the others do, then plays each attack from cells of their
    own kernel. `rows` gets (attack, expected, observed, refused) per attack; `locked` is set once
    the release's locks are taken, before the classmates start."""

    def __init__(self, *args, victim, state, ports, hub_pid):
        super().__init__(*args)
        self.victim, self.state, self.ports, self.hub_pid = victim, state, ports, hub_pid
        self.rows, self.locked = [], threading.Event()
        self.session = None

    def row(self, attack, expected, observed, refused):
        self.rows.append((attack, expected, observed, refused))

    def cell(self, code, timeout=300):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
        ws_url = f"{self.base.replace('http', 'ws', 1)}/user/{self.name}/api/kernels/{self.kernel}/channels"
        asyncio.run(asyncio.wait_for(run_cells(ws_url, self.token, nb), timeout))
        return text_of(nb.cells[0].outputs)

    def start_kernel(self):
        self.session = self.user_api("POST", "/sessions", json={
            "path": "attack.ipynb", "name": "attack.ipynb", "type": "notebook", "kernel": {"name": "course-rust"}})
        self.kernel = self.session["kernel"]["id"]

    def take_locks(self):
        release = RELEASE.resolve()
        files = [release / "course/scripts/kernel.sh", release / "evcxr_jupyter",
                 release / "template/.template-stamp", release / ".complete"]
        script = "\n".join(f"(flock -x -n {f} sleep 900 >/dev/null 2>&1 &)" for f in files)
        script += "\nsleep 1\n" + "\n".join(f"flock -x -n {f} true && echo free {f} || echo held {f}" for f in files)
        out = self.cell(shell_cell(script))
        held = out.count("held ")
        self.lock_text = f"held {held} of {len(files)} release files exclusively (kernel.sh, evcxr_jupyter, the template's stamp, .complete)"

    def read_classmate(self):
        v = self.victim
        server_pid = next((pid for pid in os.listdir("/proc") if pid.isdigit() and _owned(pid, v.uid)
                           and "jupyterhub-singleuser" in _cmdline(pid)), "0")
        paths = [v.home / "course" / v.notebook, v.home / ".cache/course-rust/kernels",
                 v.home / ".local/share/jupyter/runtime", f"/proc/{server_pid}/environ"]
        out = self.cell(shell_cell(probe(paths)))
        got = got_through(out)
        self.row("read a classmate's notebook, build slots, kernel files and server token (/proc/PID/environ)",
                 "permission denied", "; ".join(got) if got else
                 f"all {len(paths)} refused ({', '.join(sorted(set(l.rsplit(': ', 1)[-1] for l in out.splitlines() if l.startswith('refused'))))})",
                 not got and out.count("refused ") == len(paths))

    def subscribe(self):
        """The victim's kernel's IOPub socket, from its connection file (read as root): the
        attacker subscribes, and so does the test (root) at the same time, as a control that the
        kernel does publish."""
        runtime = self.victim.home / ".local/share/jupyter/runtime"
        deadline = time.monotonic() + 180
        while not list(runtime.glob("kernel-*.json")):
            if time.monotonic() > deadline:
                self.row("subscribe to a classmate's kernel output", "nothing received",
                         "the classmate's kernel never started", False)
                return
            time.sleep(0.5)
        info = json.loads(next(runtime.glob("kernel-*.json")).read_text())
        if info["transport"] == "ipc":
            url = f"ipc://{info['ip']}-{info['iopub_port']}"
        else:
            url = f"tcp://{info['ip']}:{info['iopub_port']}"
        control = threading.Thread(target=lambda: setattr(self, "control", count_messages(url, 8)))
        control.start()
        script = f"""{VENV}/bin/python - <<'PY'
import socket, zmq
url = {url!r}
if url.startswith("ipc://"):
    try:
        socket.socket(socket.AF_UNIX).connect(url[6:]); print("CONNECTED")
    except OSError as e:
        print("connect refused:", e.strerror)
sub = zmq.Context().socket(zmq.SUB)
sub.setsockopt(zmq.SUBSCRIBE, b"")
sub.connect(url)
n = 0
while sub.poll(8000):
    sub.recv_multipart(); n += 1
print("messages", n)
PY"""
        out = self.cell(shell_cell(script))
        control.join()
        got = int(re.search(r"messages (\d+)", out).group(1)) if re.search(r"messages (\d+)", out) else -1
        why = re.search(r"connect refused: (.*)", out)
        self.row("subscribe to a classmate's kernel output (IOPub)", "nothing received",
                 f"{got} messages ({info['transport']} socket; connect: {why.group(1) if why else 'accepted'});"
                 f" the test, as root, received {self.control} in the same seconds",
                 got == 0 and "CONNECTED" not in out and self.control > 0)

    def read_secrets(self):
        paths = [self.state / "jupyterhub_cookie_secret", self.state / "jupyterhub_config.py",
                 self.state / "jupyterhub.sqlite", self.state / "key.pem",
                 SERVER / "hub/jupyterhub_cookie_secret", f"/proc/{self.hub_pid}/environ"]
        out = self.cell(shell_cell(probe(paths)))
        got = got_through(out)
        self.row("read the hub's cookie secret, database, the test's admin token, the TLS key, "
                 "the hub's environment", "permission denied",
                 "; ".join(got) if got else f"all {len(paths)} refused", not got and out.count("refused ") == len(paths))

    def bind_ports(self):
        script = f"""{VENV}/bin/python - <<'PY'
import socket
for host, port in {[("127.0.0.1", p) for p in self.ports] + [("0.0.0.0", 443)]!r}:
    s = socket.socket()
    try:
        s.bind((host, port)); s.listen(); print("BOUND", host, port)
    except OSError as e:
        print("refused", host, port, e.strerror)
PY"""
        out = self.cell(shell_cell(script))
        reasons = sorted(set(l.split(" ", 3)[3] for l in out.splitlines() if l.startswith("refused ")))
        self.row(f"bind the hub's ports ({', '.join(map(str, self.ports))}) and 443, to take the logins after a restart",
                 "permission denied", "BOUND" in out and out or f"all {len(self.ports) + 1} refused ({', '.join(reasons)})",
                 "BOUND" not in out and reasons == ["Permission denied"])

    def network(self):
        targets = [("169.254.169.254", 80), ("1.1.1.1", 443), ("1.1.1.1", 53)]
        script = "\n".join(f'if timeout 5 bash -c "exec 3<>/dev/tcp/{h}/{p}" 2>/dev/null; then echo "REACHED {h}:{p}"; '
                           f'else echo "refused {h}:{p}"; fi' for h, p in targets)
        out = self.cell(shell_cell(script))
        self.row("reach the cloud's metadata service (169.254.169.254) and the internet", "refused",
                 out.count("REACHED") and " ".join(l for l in out.splitlines() if "REACHED" in l)
                 or f"all {len(targets)} refused at once (connection refused)", "REACHED" not in out)

    def fill_disk(self):
        """Writes until the disk is full, then holds it full for 8 s while the test, as root,
        checks that the hub still writes its database and the machine's disk is untouched."""
        root_free = shutil.disk_usage("/").free
        full = threading.Event()
        result = {}

        def hub_writes():
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                usage = shutil.disk_usage(self.home)
                if usage.free < 16 * MB:
                    full.set()
                    try:  # a new token: a row written into the hub's database
                        self.api("POST", f"/users/{TEACHER}/tokens", json={"note": "written while a disk is full", "expires_in": 60})
                        result["hub"] = "the hub wrote its database"
                    except Exception as e:
                        result["hub"] = f"the hub could not write: {e}"
                    result["root"] = (root_free - shutil.disk_usage("/").free) / MB
                    return
                time.sleep(0.1)

        watcher = threading.Thread(target=hub_writes)
        watcher.start()
        script = ("dd if=/dev/zero of=$HOME/fill bs=4M status=none; echo \"home rc=$?\"\n"
                  "dd if=/dev/zero of=/tmp/fill bs=4M count=4 status=none; echo \"tmp rc=$?\"\n"
                  "df -B1M --output=size,avail $HOME | tail -1\n"
                  "sleep 8; rm -f $HOME/fill /tmp/fill")
        out = self.cell(shell_cell(script))
        watcher.join()
        size = re.search(r"^\s*(\d+)\s+(\d+)\s*$", out, re.M)
        refused = "home rc=1" in out and "tmp rc=1" in out and result.get("hub") == "the hub wrote its database"
        self.row("fill the disk (home, then /tmp)",
                 "refused at the volume's size; the hub keeps writing its database",
                 f"home: {'no space left' if 'home rc=1' in out else 'written'} at {size.group(1) if size else '?'} MB, "
                 f"/tmp: {'no space left' if 'tmp rc=1' in out else 'written'} (it is the volume's); "
                 f"{result.get('hub', 'never full')}; the machine's disk {result.get('root', 0):+.0f} MB meanwhile",
                 refused)

    def fork_bomb(self):
        pids = Watch(lambda: cgroup_value(self.name, "pids", "pids.current"))
        before = (cgroup_value(self.name, "pids", "pids.events") or {}).get("max", "0")
        pids.start()
        code = ('std::process::Command::new("bash").arg("-c")'
                '.arg("b(){ [ $SECONDS -lt 8 ] && { b | b & }; }; b").spawn().expect("bash");\n'
                'std::thread::sleep(std::time::Duration::from_secs(14));\n'
                'println!("the kernel lived through it");')
        out = self.cell(code)
        peak = pids.result()
        # The bomb stops forking after 8 s; its last processes, still retrying their forks, end
        # a little later: until then the student's next cell cannot start its compiler either.
        waited = time.monotonic()
        while (cgroup_value(self.name, "pids", "pids.current") or 0) > 100 and time.monotonic() - waited < 120:
            time.sleep(0.5)
        settled = time.monotonic() - waited
        refused = int((cgroup_value(self.name, "pids", "pids.events") or {}).get("max", "0")) - int(before)
        limit = cgroup_value(self.name, "pids", "pids.max")
        self.row("a fork bomb (8 s)", f"held at the process limit ({limit})",
                 f"peak {peak} processes and threads, {refused} forks refused; {out.strip().splitlines()[-1] if out.strip() else 'no output'}"
                 f" (its last processes gone {settled:.0f} s after)",
                 peak is not None and limit is not None and peak <= limit and refused > 0 and "lived" in out and settled < 120)

    def allocate(self):
        before = int((cgroup_value(self.name, "memory", "memory.oom_control") or {}).get("oom_kill", 0))
        out = self.cell("let hog = vec![7u8; 3usize << 30];\nprintln!(\"{}\", hog.len());")
        kills = int((cgroup_value(self.name, "memory", "memory.oom_control") or {}).get("oom_kill", 0)) - before
        after = self.cell("println!(\"{}\", 40 + 2);")
        limit = cgroup_value(self.name, "memory", "memory.limit_in_bytes")
        message = next((l.strip() for l in out.splitlines() if "ran out of memory" in l), out.strip()[:200])
        self.row("allocate 3 GiB", f"only its own kernel stopped (limit {limit / 2**30:.1f} GiB), with a message",
                 f"{kills} process killed; the student reads: \"{message}\"; the next cell: {after.strip() or 'no output'}",
                 kills >= 1 and "ran out of memory" in out and after.strip() == "42")

    def __call__(self):
        try:
            self.login()
            self.start_kernel()
            self.take_locks()
        except Exception as e:
            self.failures.append(f"{self.name}: {type(e).__name__}: {e}")
        finally:
            self.locked.set()  # the classmates start either way
        if self.failures:
            return
        for attack in (self.subscribe, self.read_classmate, self.read_secrets, self.bind_ports,
                       self.network, self.fill_disk, self.fork_bomb, self.allocate):
            try:
                attack()
            except Exception as e:
                self.row(attack.__name__, "refused", f"the test failed: {type(e).__name__}: {e}", False)


def _owned(pid, uid):
    try:
        return os.stat(f"/proc/{pid}").st_uid == uid
    except OSError:
        return False


def _state(pid):
    """The process's state letter (R, S, Z...), ? where it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "?"


def _cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def count_messages(url, seconds):
    """Messages a subscriber (this process, root) receives on url until seconds pass without one."""
    import zmq
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(url)
    n = 0
    while sub.poll(seconds * 1000):
        sub.recv_multipart()
        n += 1
    sub.close(0)
    return n


def login_status(base, user, password):
    web = browser()
    web.get(f"{base}/hub/login", timeout=60)
    r = web.post(f"{base}/hub/login", data={"username": user, "password": password,
                 "_xsrf": web.cookies.get("_xsrf", "")}, allow_redirects=False, timeout=60)
    return r.status_code


def attack_table(attacker, students, base, passwords):
    """The attacks the test plays from outside the attacker's kernel (logins; their processes
    after logout), the table of all of them; returns the failures."""
    rows = list(attacker.rows)
    classmates_ok = all(not s.failures for s in students)
    rows.insert(0, ("hold the release's locks (flock -x) before the classmates' kernels start",
                    "the classmates' kernels start anyway",
                    f"{attacker.lock_text}; {sum(not s.failures for s in students)} of {len(students)} classmates ran their notebook",
                    "held 4" in attacker.lock_text and classmates_ok))
    others = {s.name: int((cgroup_value(s.name, "memory", "memory.oom_control") or {}).get("oom_kill", 0)) for s in students}
    rows.append(("(the classmates while attacked)", "every notebook passes, nothing of theirs killed",
                 f"{sum(not s.failures for s in students)} of {len(students)} passed, {sum(others.values())} of their processes killed",
                 classmates_ok and not any(others.values())))
    tries = [(TEACHER, "password"), (TEACHER, ""), (TEACHER, passwords[ATTACKER]), ("root", passwords[ATTACKER])]
    accepted = [f"{u}/{p!r}" for u, p in tries if login_status(base, u, p) == 302]
    own = login_status(base, TEACHER, passwords[TEACHER])
    if HTTP_BASE:
        # Someone on the class's network reading a login: only over https, with Secure cookies.
        web = browser()
        web.get(f"{base}/hub/login", timeout=60)
        r = web.post(f"{base}/hub/login", data={"username": TEACHER, "password": passwords[TEACHER],
                     "_xsrf": web.cookies.get("_xsrf", "")}, allow_redirects=False, timeout=60)
        cookies = r.raw.headers.getlist("Set-Cookie")
        insecure = [c.split("=", 1)[0] for c in cookies if "secure" not in c.lower().replace(" ", "").split(";")]
        plain = requests.get(f"{HTTP_BASE}/hub/login", allow_redirects=False, timeout=30)
        hsts = "max-age" in r.headers.get("Strict-Transport-Security", "")
        rows.append(("read a login on the network (plain http, cookies without Secure)",
                     "http redirected to https; every cookie Secure; HSTS",
                     f"http answered {plain.status_code} to {plain.headers.get('Location', '-')}; "
                     f"{len(cookies) - len(insecure)} of {len(cookies)} login cookies Secure"
                     f"{' (not: ' + ', '.join(insecure) + ')' if insecure else ''}; HSTS {'sent' if hsts else 'missing'}",
                     plain.status_code == 301 and plain.headers.get("Location", "").startswith("https://")
                     and cookies and not insecure and hsts))
    rows.append(("log in as the teacher (an admin) or root with a wrong password: 'password', empty, the attacker's own",
                 "refused", f"accepted: {', '.join(accepted)}" if accepted else
                 f"{len(tries)} of {len(tries)} refused (the teacher's own password: {'accepted' if own == 302 else own})",
                 not accepted and own == 302))
    # Logged out (the server stopped, as the idle culler stops it): the locks' `sleep`s and any
    # other process the attacker left must be gone with it.
    before = sum(1 for pid in os.listdir("/proc") if pid.isdigit() and _owned(pid, attacker.uid))
    attacker.api("DELETE", f"/users/{attacker.name}/server")
    deadline = time.monotonic() + 60
    while attacker.api("GET", f"/users/{attacker.name}").get("servers", {}) and time.monotonic() < deadline:
        time.sleep(0.5)
    # A killed process is gone once its parent has collected it (the machine's init, for those
    # the server's end orphaned): a few seconds at most. Zombies hold nothing and are not counted.
    deadline = time.monotonic() + 15
    while True:
        left = [f"{pid} {_state(pid)} {_cmdline(pid)[:60]}" for pid in os.listdir("/proc")
                if pid.isdigit() and _owned(pid, attacker.uid) and _state(pid) not in ("Z", "?")]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    rows.append(("leave processes running in the background, past logging out",
                 "none left once the server stops",
                 f"{before} processes before, {len(left)} after" + (f": {'; '.join(left[:3])}" if left else ""),
                 not left))
    print(f"\n{'attack':<60} {'expected':<40} {'observed'}")
    failures = []
    for attack, expected, observed, refused in rows:
        verdict = "refused/contained" if refused else "NOT REFUSED"
        print(f"{attack[:60]:<60} {expected[:40]:<40} {verdict}: {observed}")
        if not refused:
            failures.append(f"attack not refused: {attack}: {observed}")
    return failures


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
    the test's own; returns (process, https port, http port (its redirect), certificate)."""
    if not shutil.which("nginx"):
        subprocess.run(["apt-get", "install", "-y", "nginx"], check=True, capture_output=True)
        # Debian's package starts its own server on port 80 where it can: not the test's.
        subprocess.run(["nginx", "-s", "stop"], capture_output=True)
    cert, key = state / "cert.pem", state / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    port, http_port = free_port(), free_port()
    site = (RELEASE / "course/deploy/nginx-course.conf").read_text()
    for old, new in [("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;"),
                     ("listen 80;", f"listen 127.0.0.1:{http_port};"),
                     ("return 301 https://$host$request_uri;", f"return 301 https://127.0.0.1:{port}$request_uri;"),
                     ("/etc/letsencrypt/live/course.example.org/fullchain.pem", str(cert)),
                     ("/etc/letsencrypt/live/course.example.org/privkey.pem", str(key)),
                     ("proxy_pass http://127.0.0.1:800;", f"proxy_pass http://127.0.0.1:{hub_port};")]:
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
                return proc, port, http_port, str(cert)
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
        if owners & student_uids and any(_cmdline(pid).split("/")[-1].startswith("evcxr")
                                         for pid in re.findall(r"pid=(\d+)", line)):
            failures.append(f"a kernel listens on a TCP port, which any user of the machine can reach: {line}")
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
    # The firewall `class-server.sh run` sets before the hub starts.
    subprocess.run([str(RELEASE / "course/scripts/class-server.sh"), "firewall"], check=True)
    state = Path(tempfile.mkdtemp(prefix="course-hub-test-"))
    port, hub_port, proxy_api = free_privileged_ports(3)
    admin = secrets.token_hex(32)
    config = state / "jupyterhub_config.py"
    config.write_text(f"""
load_subconfig({str(RELEASE / 'course/scripts/jupyterhub_config.py')!r})
c.JupyterHub.services.append({{"name": "course-test", "api_token": {admin!r}}})
c.JupyterHub.load_roles.append({{"name": "course-test", "services": ["course-test"],
    "scopes": ["admin:users", "admin:servers", "tokens", "list:users", "read:users", "read:services"]}})
""")
    env = {**os.environ, "COURSE_SERVER_DIR": str(SERVER), "COURSE_HUB_IP": "127.0.0.1",
           "COURSE_HUB_PORT": str(port), "COURSE_HUB_API_PORT": str(hub_port), "COURSE_HUB_STATE": str(state),
           "COURSE_HUB_ADMINS": TEACHER, "COURSE_MODE": MODE}
    global BASE, VERIFY, HTTP_BASE
    hub_url = BASE = f"http://127.0.0.1:{port}"
    ports = {port, hub_port, proxy_api}
    nginx = None
    if TLS:
        nginx, tls_port, http_port, VERIFY = start_nginx(state, port)
        BASE = f"https://127.0.0.1:{tls_port}"
        HTTP_BASE = f"http://127.0.0.1:{http_port}"
        env["COURSE_HUB_PUBLIC_URL"] = BASE
        ports |= {tls_port, http_port}
    base = BASE
    log = open(state / "jupyterhub.log", "w")
    started = time.monotonic()
    # SIGINT as a terminal has it, also when the test itself was started in the background (which
    # ignores it, and so would the culler the hub starts: the hub then waits 30 s to stop it).
    hub = subprocess.Popen([str(VENV / "bin/jupyterhub"), "-f", str(config)], cwd=state, env=env,
                           stdout=log, stderr=subprocess.STDOUT,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    students, failures, attacker = [], [], None
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
        memory = Memory([s.uid for s in students], {hub.pid}, [pwd.getpwnam(ATTACKER).pw_uid])
        memory.start()
        attacker = None
        if ATTACK:
            attacker = Attacker(ATTACKER, passwords[ATTACKER], base, admin, "attack.ipynb", victim=students[0],
                                state=state, ports=[port, hub_port, proxy_api], hub_pid=hub.pid)
            print(f"{ATTACKER} logs in and takes the release's locks, then attacks while the others run")
            attack_thread = threading.Thread(target=attacker)
            attack_thread.start()
            attacker.locked.wait(600)
        print(f"{len(students)} students log in and run {', '.join(sorted(set(s.notebook for s in students)))} at the same time (COURSE_MODE={MODE})")
        run_start = time.monotonic()
        threads = [threading.Thread(target=s) for s in students]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - run_start
        if attacker:
            attack_thread.join()
            failures += attacker.failures
            failures += attack_table(attacker, students, base, passwords)
        failures += isolation(students, ports)
        failures += private_state(state)
        memory.stop.set()
        memory.join()
        for s in students:
            failures += s.failures

        print(f"\nall {len(students)} notebooks done in {wall:.1f} s (wall clock, at the same time)")
        print(f"hub start: {hub_start:.1f} s; hub and proxy peak resident memory {memory.hub_peak / MB:.0f} MB")
        print(f"{'student':<15}{'lesson':>7}{'login+start':>12}{'server PSS':>12}{'notebook':>10}{'kernel peak':>13}"
              f"{'peak RSS':>10}{'peak PSS':>10}{'cgroup peak':>13}{'home':>9}{'notebooks':>11}{'slots':>8}")
        for s in students:
            group_peak = cgroup_value(s.name, "memory", "memory.max_usage_in_bytes") or 0
            print(f"{s.name:<15}{s.notebook[:2]:>7}{s.seconds.get('login and server start', 0):>11.1f}s{s.idle_pss / MB:>9.0f} MB"
                  f"{s.seconds.get('notebook', 0):>9.1f}s"
                  f"{s.kernel_hwm / MB:>10.0f} MB{memory.peak_rss[s.uid] / MB:>7.0f} MB{memory.peak_pss[s.uid] / MB:>7.0f} MB"
                  f"{group_peak / MB:>10.0f} MB"
                  f"{du(s.home) / MB:>6.1f} MB{du(s.home / 'course') / MB:>8.1f} MB{du(s.home / '.cache/course-rust/kernels') / MB:>5.1f} MB")
        print("(cgroup peak: the student's memory control group's peak, page cache of their files included)")
        release = RELEASE.resolve()
        print(f"shared, once for the class: release {release.name} {du(release) / MB:.0f} MB "
              f"(template {du(release / 'template') / MB:.0f} MB), toolchain {du((SERVER / 'toolchain').resolve()) / MB:.0f} MB, "
              f"venv {du(VENV) / MB:.0f} MB")
    finally:
        for s in students + ([attacker] if attacker else []):
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
            for name in USERS:
                remove_user(name)
            shutil.rmtree(state, ignore_errors=True)
        else:
            print(f"kept: the users {', '.join(USERS)} and the hub's state in {state}")
    if failures:
        print("\n\n".join(failures), file=sys.stderr)
        sys.exit(f"class server test: {len(failures)} failure(s)")
    print("class server test passed: every student's notebook ran, each in their own copy, isolated")


if __name__ == "__main__":
    main()
