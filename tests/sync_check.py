"""The class server's notebook sync (scripts/sync_notebooks.py): a student's copy receives the
course's updates and keeps what the student changed. Part of `./course test` (it takes a second).
"""
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from sync_notebooks import sync  # noqa: E402


def main():
    with tempfile.TemporaryDirectory() as tmp:
        course, student = Path(tmp, "course"), Path(tmp, "student")
        (course / "checkpoints").mkdir(parents=True)
        (course / "checkpoints" / "model.ckpt").write_text("a trained model")
        for name in ["a.ipynb", "b.ipynb", "c.ipynb", "d.ipynb"]:
            (course / name).write_text(f"{name} v1")
        quiet = lambda _: None

        first = sync(course, student, log=quiet)
        assert sorted(first["added"]) == ["a.ipynb", "b.ipynb", "c.ipynb", "d.ipynb"], first
        assert not (student / "checkpoints").exists(), "checkpoints are not part of the copy"

        # The student edits a and b, deletes c and writes a notebook of their own.
        (student / "a.ipynb").write_text("a.ipynb with my answers")
        (student / "b.ipynb").write_text("b.ipynb with my notes")
        (student / "c.ipynb").unlink()
        (student / "mine.ipynb").write_text("my own")
        # The course updates a and d (not b).
        (course / "a.ipynb").write_text("a.ipynb v2")
        (course / "d.ipynb").write_text("d.ipynb v2")

        second = sync(course, student, log=quiet)
        assert (student / "a.ipynb").read_text() == "a.ipynb with my answers", "the student's edit is kept"
        assert (student / "a.updated.ipynb").read_text() == "a.ipynb v2", "the update lies beside it"
        assert (student / "b.ipynb").read_text() == "b.ipynb with my notes"
        assert (student / "c.ipynb").read_text() == "c.ipynb v1", "a deleted notebook comes back"
        assert (student / "d.ipynb").read_text() == "d.ipynb v2", "an untouched notebook is updated"
        assert (student / "mine.ipynb").read_text() == "my own", "the student's own files stay"
        assert second["beside"] == ["a.updated.ipynb"] and second["kept"] == ["b.ipynb"], second
        assert second["updated"] == ["d.ipynb"] and second["added"] == ["c.ipynb"], second

        # Nothing new: nothing written again, no second copy beside.
        third = sync(course, student, log=quiet)
        assert not third["beside"] and not third["added"] and not third["updated"], third
        assert not (student / "a.updated-2.ipynb").exists()
        # Another update of a: its newest version lies beside it too, the older one untouched.
        (course / "a.ipynb").write_text("a.ipynb v3")
        fourth = sync(course, student, log=quiet)
        assert fourth["beside"] == ["a.updated-2.ipynb"], fourth
        assert (student / "a.updated.ipynb").read_text() == "a.ipynb v2"
        assert (student / "a.ipynb").read_text() == "a.ipynb with my answers"
        # Someone else's folder is refused before anything is read or written in it (the sync
        # follows links, so it must run with the folder owner's rights alone).
        # (Only root can give a folder to another user, so only a root run checks it.)
        if os.geteuid() == 0:
            other = Path(tmp, "other")
            other.mkdir()
            os.chown(other, 1, -1)
            try:
                sync(course, other, log=quiet)
                raise AssertionError("sync ran in a folder of another user")
            except PermissionError as refused:
                assert "runs as the owner" in str(refused), refused
            assert not any(other.iterdir())
    print("notebook sync: updates arrive, a student's changes and files are kept; another user's folder is refused")


if __name__ == "__main__":
    main()
