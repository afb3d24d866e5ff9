#!/usr/bin/env bash
# A student's Jupyter server on the class server, run as the student by JupyterHub
# (scripts/jupyterhub_config.py) or by a container (deploy/): their copy of the course's notebooks
# is brought up to date (scripts/sync_notebooks.py: what they changed is kept), then the server
# starts in it.
set -euo pipefail
server=${COURSE_SERVER_DIR:-/opt/course}
release=$(readlink -f "$server/current")
umask 077   # the student's notebooks, checkpoints and kernel slots are theirs alone
"$server/cache/venv/bin/python" "$release/course/scripts/sync_notebooks.py" \
  "$release/course/notebooks" "$HOME/course"
cd "$HOME/course"
exec "$server/cache/venv/bin/jupyterhub-singleuser" "$@"
