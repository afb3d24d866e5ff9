"""Gives a student their own copy of the course's notebooks, and brings a course update into it
without overwriting what they changed (the rule nbgitpuller follows: the student's work wins).

Usage: sync_notebooks.py COURSE_NOTEBOOKS STUDENT_DIR

Run as the student by scripts/hub-singleuser.sh each time their server starts. STUDENT_DIR keeps
`.course-sync.json`, the hash of each file as the course last delivered it. For each of the
course's files:
- missing in STUDENT_DIR: copied (a file the student deleted comes back, as with nbgitpuller);
- unchanged since delivered: replaced by the course's current version;
- changed by the student: kept; when the course changed the file too, its new version is written
  beside it as `NAME.updated.ipynb` (never over an existing file), and the log says so.
Files the student made are never touched. Checkpoints of trained models are not part of the course
copy (each student trains or loads their own under `checkpoints/`).
"""
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

MANIFEST = ".course-sync.json"
SKIP_DIRS = {"checkpoints", ".ipynb_checkpoints"}


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def course_files(src):
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(filenames):
            yield (Path(dirpath) / name).relative_to(src)


def updated_name(rel):
    return rel.with_name(f"{rel.stem}.updated{rel.suffix}")


def sync(src, dest, log=print):
    """Brings DEST up to the course in SRC; returns {action: [relative paths]}."""
    src, dest = Path(src), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    # It opens and replaces files by their names in DEST, following any link a student put there:
    # safe only with the student's own rights. Run by anyone else (root, a teacher) on a folder
    # that is not theirs, a link to another file would have it read or overwrite that file.
    if dest.stat().st_uid != os.geteuid():
        raise PermissionError(f"sync_notebooks runs as the owner of {dest} (uid {dest.stat().st_uid}), "
                              f"not as uid {os.geteuid()}: it follows the links in the folder, so it must have "
                              "no more rights than the student whose folder it is")
    manifest_path = dest / MANIFEST
    try:
        delivered = json.loads(manifest_path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        delivered = {}
    actions = {"added": [], "updated": [], "kept": [], "beside": [], "unchanged": []}
    for rel in course_files(src):
        course, mine = src / rel, dest / rel
        new = digest(course)
        key = rel.as_posix()
        if not mine.exists():
            mine.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(course, mine)
            actions["added"].append(key)
        else:
            current = digest(mine)
            if current == new:
                actions["unchanged"].append(key)
            elif current == delivered.get(key):
                shutil.copyfile(course, mine)
                actions["updated"].append(key)
            elif new != delivered.get(key):
                # Both changed (or the student's file predates any delivery): theirs stays.
                beside = dest / updated_name(rel)
                if not beside.exists() or digest(beside) != new:
                    n = 2
                    while beside.exists():
                        beside = dest / rel.with_name(f"{rel.stem}.updated-{n}{rel.suffix}")
                        n += 1
                    shutil.copyfile(course, beside)
                actions["beside"].append(beside.relative_to(dest).as_posix())
            else:
                actions["kept"].append(key)
        delivered[key] = new
    tmp = manifest_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(delivered, indent=1, sort_keys=True))
    tmp.replace(manifest_path)
    for key in actions["beside"]:
        log(f"course update: kept your changed notebook; the course's new version is {key}")
    log("course notebooks: " + ", ".join(f"{len(v)} {k}" for k, v in actions.items() if v))
    return actions


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sync(sys.argv[1], sys.argv[2])
