"""JupyterHub configuration of the class server (./course server; scripts/class-server.sh).

Settings come from the environment of `./course server`:
  COURSE_HUB_IP, COURSE_HUB_PORT  where the hub listens (default 127.0.0.1:800: put a reverse
                                  proxy with TLS in front of it, README "A class on one server")
  COURSE_HUB_API_PORT             the hub's own API (801) and its proxy's (COURSE_HUB_API_PORT + 1)
  COURSE_HUB_PUBLIC_URL           the address students open, https://... (the reverse proxy's):
                                  the hub's and the students' servers' cookies are then sent
                                  over https alone (Secure)
  COURSE_HUB_GROUP                the system group whose members may log in (course-students)
  COURSE_HUB_ADMINS               comma-separated teachers' user names (admin in the hub)
  COURSE_HUB_STATE                the hub's database and cookie secret (default SERVER/hub)
  COURSE_HUB_CULL                 seconds after which an idle student's server is stopped (3600)
  COURSE_STUDENT_MEMORY           each student's memory, kernels and builds included (2G; 0: none)
  COURSE_STUDENT_CPUS             the cores each student may use at most (0: no cap, an equal
                                  share of the cores among the students who use them)
  COURSE_STUDENT_PIDS             each student's processes and threads (1024; 0: no limit)
  COURSE_STUDENT_DISK             each student's home folder, a volume of this size (1G; 0: none)
  COURSE_MODE                     the notebooks' mode (default class)

Students log in with their system password (PAM), and only members of the group: there is no
shared-password mode, which would let anyone log in as anyone, the teacher included.

Every port is below 1024, where only root may listen: a student's process cannot take one of
them first (before the hub starts, or restarts) and so receive the class's logins.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from course_spawner import CourseSpawner  # noqa: E402 (beside this file)

server = os.environ.get("COURSE_SERVER_DIR", "/opt/course")
state = os.environ.get("COURSE_HUB_STATE", f"{server}/hub")
ip = os.environ.get("COURSE_HUB_IP", "127.0.0.1")
port = int(os.environ.get("COURSE_HUB_PORT", "800"))
api_port = int(os.environ.get("COURSE_HUB_API_PORT", "801"))
group = os.environ.get("COURSE_HUB_GROUP", "course-students")

c = get_config()  # noqa: F821 (JupyterHub provides it)

c.JupyterHub.bind_url = f"http://{ip}:{port}"
c.JupyterHub.hub_ip = "127.0.0.1"  # the hub's own API: only the proxy and the servers reach it
c.JupyterHub.hub_port = api_port
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{api_port + 1}"
c.ConfigurableHTTPProxy.command = [f"{server}/proxy/node_modules/.bin/configurable-http-proxy"]
c.ConfigurableHTTPProxy.pid_file = f"{state}/jupyterhub-proxy.pid"
c.JupyterHub.db_url = f"sqlite:///{state}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = f"{state}/jupyterhub_cookie_secret"
# The hub stops every student's server when it stops (its default, written down: the spawner
# then kills what each left behind, so nothing of a student's outlives a restart).
c.JupyterHub.cleanup_servers = True

# Behind a reverse proxy the hub sees http (configurable-http-proxy's forwarded protocol comes
# last), so it would not mark its cookies Secure by itself: the public address says https.
public_url = os.environ.get("COURSE_HUB_PUBLIC_URL", "")
if public_url:
    c.JupyterHub.public_url = public_url
    if public_url.startswith("https://"):
        c.JupyterHub.cookie_options = {"secure": True}
        # (the _xsrf cookie takes its own settings: tornado's, not the hub's cookie_options)
        c.JupyterHub.tornado_settings = {"xsrf_cookie_kwargs": {"secure": True}}

c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.allowed_groups = {group}
c.Authenticator.admin_users = {u for u in os.environ.get("COURSE_HUB_ADMINS", "").split(",") if u}

# Each student's server runs as that student (the hub runs as root and the spawner switches
# user), inside their limits (scripts/course_spawner.py), listens on 127.0.0.1, and starts in
# their own copy of the notebooks, which hub-singleuser.sh brings up to date first. Its kernels
# listen on Unix sockets in the student's runtime folder, not on ports a classmate could reach.
def size(name, default):
    """A size setting: bytes as a number (0: no limit), or with a suffix K, M, G, T."""
    value = os.environ.get(name, default).strip()
    return int(value) if value.isdigit() else value


c.JupyterHub.spawner_class = CourseSpawner
c.Spawner.mem_limit = size("COURSE_STUDENT_MEMORY", "2G")
# No cap on cores by default: each student's cpu group has an equal share whenever the cores are
# contended (the kernel's scheduler), and an idle machine's cores go to whoever trains; a cap of
# 2 cores cost lesson 02 5% on this 2-core machine, for nothing.
c.Spawner.cpu_limit = float(os.environ.get("COURSE_STUDENT_CPUS", "0"))
c.CourseSpawner.pids_limit = int(os.environ.get("COURSE_STUDENT_PIDS", "1024"))
c.CourseSpawner.disk_limit = size("COURSE_STUDENT_DISK", "1G")
c.CourseSpawner.volumes = f"{server}/volumes"
c.Spawner.args = ["--KernelManager.transport=ipc"]
c.Spawner.cmd = [f"{server}/current/course/scripts/hub-singleuser.sh"]
c.Spawner.notebook_dir = "~/course"
c.Spawner.default_url = "/lab"
c.Spawner.environment = {
    "COURSE_SERVER_DIR": server,
    "COURSE_MODE": os.environ.get("COURSE_MODE", "class"),
}
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120

c.JupyterHub.services = [
    {
        "name": "idle-culler",
        "command": [sys.executable, "-m", "jupyterhub_idle_culler",
                    f"--timeout={os.environ.get('COURSE_HUB_CULL', '3600')}"],
    }
]
c.JupyterHub.load_roles = [
    {
        "name": "idle-culler",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    }
]
