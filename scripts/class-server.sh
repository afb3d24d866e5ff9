#!/usr/bin/env bash
# A class on one server: JupyterHub with the course built once, read-only, for every student.
# Called by ./course (server, server-setup, server-student, server-test), as root, after the
# course's own set-up has built Jupyter, the kernel and its warm template into
# $COURSE_SERVER_DIR/cache.
#
#   class-server.sh install         JupyterHub and its proxy, the toolchain, a release of the course,
#                                   the kernel registered for every student; idempotent
#   class-server.sh run             run the hub (jupyterhub_config.py beside this script), after
#                                   the firewall below
#   class-server.sh firewall        the students' processes reach loopback and nothing else
#                                   (iptables, by the class's group); idempotent
#   class-server.sh student NAME... make each NAME a student: a system user in the class's group,
#                                   home readable by them alone, no login shell; prints new
#                                   users' passwords
#
# What lives where, under $COURSE_SERVER_DIR (default /opt/course; root's, readable by all):
#   cache/          the set-up's venv (Jupyter, JupyterHub), evcxr and the template's build
#   toolchain       the Rust toolchain the template was built with (a student cannot read ~root)
#   proxy/          configurable-http-proxy, from npm
#   releases/ID/    one version of the course: its files (course/), the warm template
#                   (template/, course-lib and burn compiled), the kernel binary; never changed
#   current         the release new kernels and new student servers get
#   hub/            the hub's database and cookie secret (root only)
#   volumes/        each student's home folder, an image of a fixed size (root only;
#                   scripts/course_spawner.py mounts it on their home when their server starts)
# A student's own: ~/course (their copy of the notebooks, scripts/sync_notebooks.py) and
# ~/.cache/course-rust/kernels (their kernels' build slots: the cells' builds, about 0.3 MB each;
# course-lib and burn are linked from the release in place, scripts/kernel.sh).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVER=${COURSE_SERVER_DIR:-/opt/course}
CACHE=$SERVER/cache
VENV=$CACHE/venv
TEMPLATE=$CACHE/kernels/template
GROUP=${COURSE_HUB_GROUP:-course-students}
CHP_VERSION=5.3.0

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
need_root() {
  if [[ $(id -u) -ne 0 ]]; then
    echo "The class server is set up as root (it makes system users and runs a hub that starts each student's server as that student): run it with sudo." >&2
    exit 1
  fi
}

install_hub() {
  local stamp=$VENV/.hub-requirements
  if ! cmp -s "$ROOT/scripts/hub-requirements.txt" "$stamp"; then
    say "Installing JupyterHub into $VENV"
    "$VENV/bin/pip" install --quiet -r "$ROOT/scripts/hub-requirements.txt"
    cp "$ROOT/scripts/hub-requirements.txt" "$stamp"
  fi
  if ! command -v iptables >/dev/null; then
    say "Installing iptables (the students' firewall)"
    apt-get update >/dev/null && apt-get install -y iptables >/dev/null
  fi
  if [[ ! -x $SERVER/proxy/node_modules/.bin/configurable-http-proxy ]]; then
    say "Installing configurable-http-proxy $CHP_VERSION (npm) into $SERVER/proxy"
    command -v npm >/dev/null || { apt-get update >/dev/null && apt-get install -y nodejs npm >/dev/null; }
    npm install --silent --no-fund --no-audit --prefix "$SERVER/proxy" "configurable-http-proxy@$CHP_VERSION"
  fi
}

# The toolchain the template was built with, where a student can run it. Hard links when it is on
# the same file system (rustup replaces files rather than rewriting them, so an update of root's
# toolchain leaves this copy as it was), a copy otherwise.
install_toolchain() {
  local sysroot version dest
  sysroot=$(rustc --print sysroot)
  version=$(rustc -V | cut -d' ' -f2)
  dest=$SERVER/toolchain-$version
  if [[ ! -x $dest/bin/rustc ]]; then
    say "Installing Rust $version for the students' kernels into $dest"
    rm -rf "$dest.tmp"
    cp -al "$sysroot" "$dest.tmp" 2>/dev/null || { rm -rf "$dest.tmp"; cp -a "$sysroot" "$dest.tmp"; }
    chmod -R a+rX "$dest.tmp"
    mv "$dest.tmp" "$dest"
  fi
  ln -sfn "toolchain-$version" "$SERVER/toolchain.tmp" && mv -T "$SERVER/toolchain.tmp" "$SERVER/toolchain"
}

# The course's files, NUL-separated: what git does not ignore (no build output, no trained
# checkpoints of the teacher's), or, outside a git checkout (a container's build context), every
# file but those.
course_files() {
  cd "$ROOT"
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard | sort -z
  else
    find . \( -path ./build -o -path ./notebooks/checkpoints -o -path ./.git \) -prune -o -type f -print0 | sort -z
  fi
}

copy_course() {
  mkdir -p "$1"
  (cd "$ROOT" && course_files | tar --null -T - -cf -) | tar -xf - -C "$1"
}

release_id() {
  { cat "$TEMPLATE/.template-stamp"; (cd "$ROOT" && course_files | xargs -0 sha256sum); } | sha256sum | cut -c1-12
}

# A release of the course, in $SERVER/releases/ID (ID: a hash of the course's files and the
# template's stamp), made unless it exists; sets REL.
make_release() {
  REL=$SERVER/releases/$(release_id)
  [[ -f $REL/.complete ]] && return
  say "Installing release ${REL##*/} of the course into $REL"
  rm -rf "$REL.tmp"
  mkdir -p "$REL.tmp"
  copy_course "$REL.tmp/course"
  cp -a "$TEMPLATE" "$REL.tmp/template"
  cp "$CACHE/evcxr/bin/evcxr_jupyter" "$REL.tmp/evcxr_jupyter"
  touch "$REL.tmp/.complete"
  chown -R root:root "$REL.tmp"
  chmod -R a+rX,go-w "$REL.tmp"
  mv "$REL.tmp" "$REL"
}

# The kernel's spec: kernel.sh of the release that RELEASE (a path, or the `current` link) names.
write_kernelspec() {
  local spec=$1 release=$2
  mkdir -p "$spec"
  cat > "$spec/kernel.json" <<JSON
{
  "argv": ["$release/course/scripts/kernel.sh", "{connection_file}"],
  "display_name": "Rust (course)",
  "language": "rust",
  "interrupt_mode": "message",
  "env": {"COURSE_RELEASE": "$release", "COURSE_TOOLCHAIN": "$SERVER/toolchain"}
}
JSON
}

# A kernel of the release, started as the students' kernels start (its kernel.sh, the toolchain,
# its template linked in place), runs the notebooks' set-up cell and a stored course-lib variable,
# before any student gets the release.
check_release() {
  say "Checking a kernel of release ${1##*/}"
  local check=$CACHE/check
  rm -rf "$check"
  write_kernelspec "$check/jupyter/kernels/course-rust" "$1"
  if ! (cd "$ROOT/scripts" && JUPYTER_PATH=$check/jupyter COURSE_CACHE=$check \
        "$VENV/bin/python" warm_kernel.py --check); then
    # A new release that fails is removed; the students keep the one they had.
    [[ "$(readlink -f "$SERVER/current")" == "$1" ]] || rm -rf "$1"
    echo "The class server's kernel check failed (above)." >&2
    exit 1
  fi
  rm -rf "$check"
}

# Whether a process still uses the release in $1: one maps a file of it (a kernel's evcxr_jupyter,
# the libcourse_lib.so it loaded), runs it, holds one open (kernel.sh while bash reads it) or works
# inside it. Read from /proc as root, so no student can hide a kernel from it, nor stall anyone
# with it: the lock file that every kernel once held shared could be locked alone by any student
# (flock needs only read access), and then every classmate's kernel waited forever. A student can
# keep an old release from being removed by holding a file of it open: that costs only its disk.
release_in_use() {
  local f rel
  rel=$(readlink -f "$1")   # /proc names files by their real paths
  for f in /proc/[0-9]*/maps; do
    grep -qsF -- "$rel/" "$f" && return 0
  done
  for f in /proc/[0-9]*/exe /proc/[0-9]*/cwd /proc/[0-9]*/fd/*; do
    [[ "$(readlink "$f" 2>/dev/null)/" == "$rel"/* ]] && return 0
  done
  return 1
}

# New kernels and student servers get the release; older releases go once no process uses them:
# one still in use goes at a later set-up.
switch_release() {
  ln -sfn "releases/${1##*/}" "$SERVER/current.tmp" && mv -T "$SERVER/current.tmp" "$SERVER/current"
  local old
  for old in "$SERVER"/releases/*/; do
    old=${old%/}
    [[ -d $old && $old != "$1" ]] || continue
    if release_in_use "$old"; then
      echo "    release ${old##*/} is still in use: it goes at a later set-up"
    else
      rm -rf "$old"
      echo "    removed release ${old##*/}"
    fi
  done
}

install() {
  need_root
  local start=$(date +%s)
  mkdir -p "$SERVER" "$SERVER/hub" "$SERVER/volumes"
  chmod 755 "$SERVER"
  chmod 700 "$SERVER/hub" "$SERVER/volumes"
  install_hub
  install_toolchain
  chmod -R a+rX,go-w "$VENV" "$SERVER/proxy"
  chmod a+x "$CACHE"
  make_release
  check_release "$REL"
  switch_release "$REL"
  # Every student's Jupyter (the venv's) lists the kernel, which starts the current release.
  write_kernelspec "$VENV/share/jupyter/kernels/course-rust" "$SERVER/current"
  # JupyterLab's question about fetching Jupyter's news, asked of every student at their first
  # login, answered once for the class: no.
  mkdir -p "$VENV/share/jupyter/lab/settings"
  echo '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}' \
    > "$VENV/share/jupyter/lab/settings/overrides.json"
  getent group "$GROUP" >/dev/null || groupadd "$GROUP"
  say "Class server ready in $SERVER (release $(basename "$(readlink -f "$SERVER/current")"), set-up $(( $(date +%s) - start )) s)"
}

# The students' processes (any process with the class's group among its groups: their servers,
# kernels and whatever those start) may talk to loopback, the hub and their own server, and to
# nothing else: not a cloud's metadata service (169.254.169.254, which hands out the machine's
# credentials), not the local network, not the internet (the course downloads nothing at run
# time). Rejected rather than dropped, so a cell that tries fails at once, with "connection
# refused". A chain of the course's own, rebuilt at every run: the machine's other rules stay.
firewall() {
  need_root
  local gid tables
  gid=$(getent group "$GROUP" | cut -d: -f3)
  for tables in iptables ip6tables; do
    $tables -N COURSE-STUDENTS 2>/dev/null || $tables -F COURSE-STUDENTS
    $tables -A COURSE-STUDENTS -o lo -j RETURN
    $tables -A COURSE-STUDENTS -j REJECT
    $tables -C OUTPUT -m owner --gid-owner "$gid" --suppl-groups -j COURSE-STUDENTS 2>/dev/null ||
      $tables -I OUTPUT 1 -m owner --gid-owner "$gid" --suppl-groups -j COURSE-STUDENTS
  done
}

run_hub() {
  need_root
  getent group "$GROUP" >/dev/null || groupadd "$GROUP"
  firewall
  cd "$SERVER/hub"
  say "Starting JupyterHub on http://${COURSE_HUB_IP:-127.0.0.1}:${COURSE_HUB_PORT:-800} (students: members of group $GROUP)"
  exec "$VENV/bin/jupyterhub" -f "$SERVER/current/course/scripts/jupyterhub_config.py"
}

add_students() {
  need_root
  [[ $# -gt 0 ]] || { echo "usage: ./course server-student NAME..." >&2; exit 2; }
  getent group "$GROUP" >/dev/null || groupadd "$GROUP"
  local name password
  for name in "$@"; do
    if id "$name" >/dev/null 2>&1; then
      # An account that exists already is not made a student by accident: a student's server runs
      # as that account, with its files (the teacher's own, say, or a service's).
      if id -nG "$name" | tr ' ' '\n' | grep -qx "$GROUP"; then
        echo "$name: already a student, unchanged"
        continue
      elif [[ $(id -u "$name") -lt 1000 ]]; then
        echo "$name is a system account (uid $(id -u "$name")): it cannot be a student; choose another name" >&2
        exit 1
      elif [[ ${COURSE_STUDENT_EXISTING:-} != 1 ]]; then
        echo "$name is an existing account, not a student: its owner would log in to the class with" \
          "their own password and files. Choose a new name, or make it a student on purpose with" \
          "COURSE_STUDENT_EXISTING=1 ./course server-student $name" >&2
        exit 1
      fi
      usermod -aG "$GROUP" "$name"
      echo "$name: an existing account, made a student on purpose (COURSE_STUDENT_EXISTING=1); password unchanged"
    else
      # No login shell: a student reaches the machine through the hub alone, inside their limits
      # (JupyterLab's terminal runs bash there), not by ssh or su, outside them.
      useradd --create-home --shell /usr/sbin/nologin --groups "$GROUP" "$name"
      password=$(head -c 12 /dev/urandom | base64 | tr -d '/+=' | cut -c1-12)
      echo "$name:$password" | chpasswd
      echo "$name: $password"
    fi
    # Debian's useradd leaves homes readable by all (UMASK 022): a student's notebooks and
    # build slots are theirs alone.
    local home
    home=$(getent passwd "$name" | cut -d: -f6)
    if [[ -d $home ]]; then chmod 700 "$home"; else echo "$name has no home folder ($home): make one before the class" >&2; fi
  done
}

case "${1:-}" in
  install) install ;;
  run) run_hub ;;
  firewall) firewall ;;
  student) shift; add_students "$@" ;;
  *) sed -n '2,29p' "$0"; exit 2 ;;
esac
