"""The class server's spawner (scripts/jupyterhub_config.py): JupyterHub's LocalProcessSpawner,
with every student's server inside limits that the kernel enforces, where a classmate cannot reach.

LocalProcessSpawner starts each student's server as that student but treats `mem_limit` as
advice: one cell that allocates 20 GB, a fork bomb or a file that fills the disk stalls the class.
Here each student's server, and everything it starts (kernels, cargo, rustc, a terminal's
processes, whatever they leave in the background), runs:

- in a control group of its own per resource (cgroup v1 `memory`, `pids`, `cpu`, or the same in
  cgroup v2's single tree): memory (swap included) past `mem_limit` makes the kernel's OOM killer
  stop a process of that student's alone (their kernel: the patched evcxr tells them why), more
  than `pids_limit` processes and threads are refused, and `cpu_limit` cores at most;
- with a home folder of `disk_limit` bytes: a file system image of that size (allocated in full,
  so the students' volumes cannot fill the disk that the hub's database is on), mounted on the
  home folder when the server starts;
- with its own /tmp and /var/tmp (folders of that volume, in a mount namespace of the server's:
  the machine's are writable by all, outside any limit) and its own /dev/shm (a tmpfs, counted in
  the student's memory);
- and when the server stops (the student logs out, the idle culler, the hub's shutdown), every
  process left in its control group is killed: nothing a student starts outlives their server.

A student cannot leave the control group (its files are root's), nor see a classmate's processes'
files (their own uid), and the kernels listen on Unix sockets in the student's runtime folder
(`KernelManager.transport = "ipc"`, scripts/evcxr-jupyter-ipc.patch), not on loopback ports.
This is what SystemdSpawner (The Littlest JupyterHub) gets from systemd units, done with the
cgroup files directly: the course's machines have no systemd as init.
"""
import ctypes
import os
import signal
import subprocess
import time
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner
from jupyterhub.traitlets import ByteSpecification
from traitlets import Integer, Unicode

CGROUP_ROOT = Path("/sys/fs/cgroup")
CLONE_NEWNS = 0x00020000
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x1000, 0x4000, 0x40000


def human(n):
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


class StudentCgroups:
    """One student's control groups, under `course-students/NAME` in each hierarchy."""

    def __init__(self, user, parent="course-students"):
        self.v2 = (CGROUP_ROOT / "cgroup.controllers").exists()
        if self.v2:
            self.dirs = {c: CGROUP_ROOT / parent / user for c in ("memory", "pids", "cpu")}
        else:
            self.dirs = {c: CGROUP_ROOT / c / parent / user for c in ("memory", "pids", "cpu")}
        self.parent = parent

    def create(self, memory, pids, cpus):
        """Made (or kept) with these limits; a limit of 0 is none."""
        if self.v2:
            # Controllers are handed down the tree: the root's subtree control, then the parent's.
            for folder in (CGROUP_ROOT, CGROUP_ROOT / self.parent):
                folder.mkdir(exist_ok=True)
                (folder / "cgroup.subtree_control").write_text("+memory +pids +cpu")
        for folder in set(self.dirs.values()):
            folder.mkdir(parents=True, exist_ok=True)
        m, p, c = self.dirs["memory"], self.dirs["pids"], self.dirs["cpu"]
        if self.v2:
            (m / "memory.max").write_text(str(memory) if memory else "max")
            if (m / "memory.swap.max").exists():
                (m / "memory.swap.max").write_text("0" if memory else "max")
            (p / "pids.max").write_text(str(pids) if pids else "max")
            (c / "cpu.max").write_text(f"{int(cpus * 100000)} 100000" if cpus else "max 100000")
        else:
            limit = str(memory) if memory else "-1"
            swap = m / "memory.memsw.limit_in_bytes"
            # Memory alone must stay at most memory with swap: the order depends on the direction.
            try:
                (m / "memory.limit_in_bytes").write_text(limit)
                if swap.exists():
                    swap.write_text(limit)
            except OSError:
                swap.write_text(limit)
                (m / "memory.limit_in_bytes").write_text(limit)
            (p / "pids.max").write_text(str(pids) if pids else "max")
            (c / "cpu.cfs_period_us").write_text("100000")
            (c / "cpu.cfs_quota_us").write_text(str(int(cpus * 100000)) if cpus else "-1")

    def join(self, pid):
        """Moves pid (and its future children) in: called in the new process before it drops root."""
        for folder in set(self.dirs.values()):
            (folder / "cgroup.procs").write_text(str(pid))

    def pids(self):
        found = set()
        for folder in set(self.dirs.values()):
            try:
                found |= {int(p) for p in (folder / "cgroup.procs").read_text().split()}
            except OSError:
                pass
        return found

    def kill_all(self):
        """Every process in the group killed; returns how many. Repeated, as a process may fork
        while it is read (the pids limit bounds how many times)."""
        killed = set()
        for _ in range(50):
            left = self.pids()
            if not left:
                break
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)
        return len(killed)


# Loaded here, in the hub: a process forked from a threaded one must not load libraries itself.
LIBC = ctypes.CDLL(None, use_errno=True)


def _check(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def private_folders(tmp, shm_bytes):
    """In a new mount namespace (this process's and its children's): /tmp and /var/tmp are the
    folder tmp, /dev/shm a tmpfs of its own. Run as root, in the new process."""
    libc = LIBC
    _check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    # The new namespace's mounts stay in it (the machine's are not changed).
    _check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
    for target in (b"/tmp", b"/var/tmp"):
        _check(libc.mount(str(tmp).encode(), target, None, MS_BIND, None), f"bind {tmp} on {target}")
    options = f"size={shm_bytes},mode=1777".encode()
    _check(libc.mount(b"tmpfs", b"/dev/shm", b"tmpfs", MS_NOSUID | MS_NODEV, options), "tmpfs on /dev/shm")


class CourseSpawner(LocalProcessSpawner):
    """LocalProcessSpawner with the limits above. `mem_limit` and `cpu_limit` are Spawner's own
    settings, enforced here; `pids_limit` and `disk_limit` are this spawner's."""

    pids_limit = Integer(
        1024, config=True,
        help="Processes and threads a student's server may have at once, kernels and builds "
             "included (0: no limit).")
    disk_limit = ByteSpecification(
        0, config=True,
        help="Size of a student's home folder, a file system image of its own (0: their home "
             "folder as it is, on the machine's disk).")
    volumes = Unicode(
        "/opt/course/volumes", config=True,
        help="Where the students' home images are kept (root's).")
    shm_limit = ByteSpecification(64 * 2**20, config=True, help="Size of a student's /dev/shm.")

    def cgroups(self):
        return StudentCgroups(self.user.name)

    def mount_home(self):
        """The student's home folder on an image of disk_limit bytes. Made at the first start:
        allocated in full, formatted with the student as its root's owner, what their home held
        copied in; mounted at every start where it is not yet (a reboot unmounts it)."""
        import pwd
        entry = pwd.getpwnam(self.user.name)
        home = Path(entry.pw_dir)
        if os.path.ismount(home):
            return
        volumes = Path(self.volumes)
        volumes.mkdir(parents=True, exist_ok=True, mode=0o700)
        image = volumes / f"{self.user.name}.img"
        if not image.exists():
            self.log.info("Making %s's home volume, %s, in %s", self.user.name, human(self.disk_limit), image)
            made = image.with_suffix(".tmp")
            subprocess.run(["fallocate", "-l", str(self.disk_limit), made], check=True)
            # nodiscard: mkfs would otherwise punch the image's blocks out again (a file's
            # "discard"), and the volume would take its disk only as the student fills it.
            subprocess.run(["mkfs.ext4", "-q", "-m", "0", "-E",
                            f"nodiscard,root_owner={entry.pw_uid}:{entry.pw_gid}", made], check=True)
            with_home = volumes / f"{self.user.name}.mnt"
            with_home.mkdir(exist_ok=True)
            subprocess.run(["mount", "-o", "loop,nosuid,nodev", made, with_home], check=True)
            try:
                # cp -a as root keeps owners and modes; symbolic links are copied as links.
                subprocess.run(["cp", "-a", f"{home}/.", f"{with_home}/"], check=True)
                os.chmod(with_home, 0o700)
            finally:
                subprocess.run(["umount", with_home], check=True)
                with_home.rmdir()
            made.rename(image)
        home.mkdir(exist_ok=True)
        subprocess.run(["mount", "-o", "loop,nosuid,nodev,noatime", image, home], check=True)
        # The loop device then reads and writes the image directly, not through the page cache a
        # second time: each cell's build writes and reads a few MB there, and lesson 02 ran 30%
        # slower than on the machine's disk with it cached twice, 15% with direct I/O. (Set on the
        # device `mount` made, which it detaches again at unmount.)
        device = subprocess.run(["findmnt", "-n", "-o", "SOURCE", home], check=True,
                                capture_output=True, text=True).stdout.strip()
        subprocess.run(["losetup", "--direct-io=on", device], check=True)

    def private_tmp(self):
        """~/.tmp, the student's own (a link there, their doing, is replaced by a folder)."""
        import pwd
        entry = pwd.getpwnam(self.user.name)
        tmp = Path(entry.pw_dir) / ".tmp"
        if tmp.is_symlink() or (tmp.exists() and not tmp.is_dir()):
            tmp.unlink()
        tmp.mkdir(mode=0o700, exist_ok=True)
        os.lchown(tmp, entry.pw_uid, entry.pw_gid)
        os.chmod(tmp, 0o700)
        return tmp

    def make_preexec_fn(self, name):
        drop_root = super().make_preexec_fn(name)
        groups, tmp, shm = self.cgroups(), self._tmp, self.shm_limit

        def preexec():
            # In the new process, still root: into the student's groups, its own /tmp, then the
            # student's uid (LocalProcessSpawner's own step).
            groups.join(os.getpid())
            private_folders(tmp, shm)
            drop_root()

        return preexec

    def get_env(self):
        env = super().get_env()
        if self.mem_limit:
            env["COURSE_MEMORY_LIMIT"] = human(self.mem_limit)  # the patched kernel names it
        env["SHELL"] = "/bin/bash"  # JupyterLab's terminal (a student's login shell is nologin)
        return env

    async def start(self):
        groups = self.cgroups()
        groups.kill_all()  # what a previous server left, if the hub was stopped hard
        groups.create(self.mem_limit or 0, self.pids_limit, self.cpu_limit or 0)
        if self.disk_limit:
            self.mount_home()
        self._tmp = self.private_tmp()
        return await super().start()

    async def stop(self, now=False):
        await super().stop(now=now)
        killed = self.cgroups().kill_all()
        if killed:
            self.log.info("Stopped %d process(es) %s's server had left", killed, self.user.name)
