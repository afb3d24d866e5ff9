"""JupyterHub configuration of the class server (./course server; scripts/class-server.sh).

Settings come from the environment of `./course server`:
  COURSE_HUB_IP, COURSE_HUB_PORT  where the hub listens (default 127.0.0.1:8000: put a reverse
                                  proxy with TLS in front of it, README "A class on one server")
  COURSE_HUB_GROUP                the system group whose members may log in (course-students)
  COURSE_HUB_ADMINS               comma-separated teachers' user names (admin in the hub)
  COURSE_HUB_AUTH                 pam (default: students log in with their system password) or
                                  dummy (one shared password in COURSE_HUB_PASSWORD, for tests)
  COURSE_HUB_STATE                the hub's database and cookie secret (default SERVER/hub)
  COURSE_HUB_CULL                 seconds after which an idle student's server is stopped (3600)
  COURSE_MODE                     the notebooks' mode (default class)
"""
import os
import sys

server = os.environ.get("COURSE_SERVER_DIR", "/opt/course")
state = os.environ.get("COURSE_HUB_STATE", f"{server}/hub")
ip = os.environ.get("COURSE_HUB_IP", "127.0.0.1")
port = int(os.environ.get("COURSE_HUB_PORT", "8000"))
group = os.environ.get("COURSE_HUB_GROUP", "course-students")

c = get_config()  # noqa: F821 (JupyterHub provides it)

c.JupyterHub.bind_url = f"http://{ip}:{port}"
c.JupyterHub.hub_ip = "127.0.0.1"  # the hub's own API: only the proxy and the servers reach it
c.ConfigurableHTTPProxy.command = [f"{server}/proxy/node_modules/.bin/configurable-http-proxy"]
c.ConfigurableHTTPProxy.pid_file = f"{state}/jupyterhub-proxy.pid"
c.JupyterHub.db_url = f"sqlite:///{state}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = f"{state}/jupyterhub_cookie_secret"

if os.environ.get("COURSE_HUB_AUTH", "pam") == "dummy":
    c.JupyterHub.authenticator_class = "dummy"
    c.DummyAuthenticator.password = os.environ["COURSE_HUB_PASSWORD"]
    c.Authenticator.allow_all = True
else:
    c.JupyterHub.authenticator_class = "pam"
    c.PAMAuthenticator.allowed_groups = {group}
c.Authenticator.admin_users = {u for u in os.environ.get("COURSE_HUB_ADMINS", "").split(",") if u}

# Each student's server runs as that student (the hub runs as root and LocalProcessSpawner
# switches user), listens on 127.0.0.1, and starts in their own copy of the notebooks, which
# hub-singleuser.sh brings up to date first.
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
