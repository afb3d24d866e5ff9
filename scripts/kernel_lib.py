"""Builds course-lib in release mode and copies what a notebook cell needs of it into a folder of
the kernel's template: libcourse_lib.so (what the cells link against and the kernel loads), the
metadata (.rmeta) of every crate under it (rustc reads the types of burn and the rest from them
when it compiles a cell), and the proc-macro libraries (a cell's `#[derive(Module)]` runs burn's).

Why the release build: its dependencies are the ones `cargo test --release` and `cargo bench` use,
in the same target folder, so burn is compiled once per machine for the kernel, the tests and the
benchmarks. Only course-lib itself is compiled apart (`cargo rustc`), with `-C prefer-dynamic`:
evcxr links every cell to the standard library's shared object, and a libcourse_lib.so with its
own static copy of std would give a cell two (rustc: "cannot satisfy dependencies so
`panic_unwind` only shows up once").
Why a copy: that target folder is shared by every clone and rebuilt by every test run; a kernel
must keep the library it started with while it runs (kernel.sh gives each kernel its own slot).

Beside them, course_lib.index.json: course-lib's public names for the kernel's Tab completion
(tools/lib-index reads course-lib's source; rust-analyzer does not see course-lib), named by
kernel.sh's COURSE_LIB_INDEX.

Usage: kernel_lib.py ROOT DEST   (cargo's progress goes to stderr; DEST must not exist yet)
"""
import json
import os
import shutil
import subprocess
import sys


def main():
    root, dest = sys.argv[1], sys.argv[2]
    build = subprocess.Popen(
        ["cargo", "rustc", "--release", "-p", "course-lib", "--lib",
         "--message-format=json-render-diagnostics", "--manifest-path", os.path.join(root, "Cargo.toml"),
         "--", "-C", "prefer-dynamic"],
        stdout=subprocess.PIPE, text=True)
    files = []
    for line in build.stdout:
        message = json.loads(line)
        if message.get("reason") != "compiler-artifact" or "custom-build" in message["target"]["kind"]:
            continue
        names = message["filenames"]
        if message["target"]["name"] == "course_lib":
            files += [f for f in names if f.endswith(".so")]
        else:
            # A library's metadata is enough for rustc: its code is linked into libcourse_lib.so.
            files += [f for f in names if f.endswith((".rmeta", ".so"))] or names
    if build.wait() != 0:
        sys.exit(f"cargo build of course-lib failed (exit code {build.returncode})")
    if not any(os.path.basename(f) == "libcourse_lib.so" for f in files):
        sys.exit("cargo built no libcourse_lib.so (course-lib's crate-type must include dylib)")
    os.makedirs(dest)
    for f in files:
        shutil.copy2(f, dest)
    index = os.path.join(dest, "course_lib.index.json")
    if subprocess.run(["cargo", "run", "--quiet", "--release", "-p", "lib-index", "--manifest-path",
                       os.path.join(root, "Cargo.toml"), "--", os.path.join(root, "course-lib", "src"), index]).returncode:
        sys.exit("tools/lib-index could not index course-lib's names (above)")
    size = sum(os.path.getsize(os.path.join(dest, f)) for f in os.listdir(dest))
    print(f"    course-lib for the kernel: {len(files)} files, {size / 1e6:.0f} MB in {dest}")


if __name__ == "__main__":
    main()
