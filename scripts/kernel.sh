#!/usr/bin/env bash
# The course's Jupyter kernel: evcxr_jupyter with a persistent build directory of its own.
#
# Why: evcxr builds every cell in its "tmpdir". With one shared tmpdir two open notebooks overwrite
# each other's cell crate and break; with a fresh one per kernel every notebook's first cell waits
# for its crate's first build. So each running kernel takes a "slot" (a build directory held by a
# lock for the kernel's life), and a new slot starts as a copy of the template that
# `./course setup` made: lib/, course-lib's release build as the cells link it
# (scripts/kernel_lib.py), and the cell crate built warm.
#
# Usage (from kernel.json): kernel.sh {connection_file}
# COURSE_KERNEL_DIR, when set, names the build directory to use instead (the set-up uses it to
# warm the template).
#
# On a class server (scripts/class-server.sh) the kernel runs as a student and COURSE_RELEASE names
# the installed course, read-only and shared by every student: its template's lib/ is linked in
# place, so a student's slot holds only the cells' own small builds; COURSE_TOOLCHAIN
# names the Rust toolchain installed beside it (a student cannot reach root's ~/.rustup).
set -euo pipefail

# A slot made from the template: a copy, except lib/ (course-lib's build, 270 MB), which is hard
# linked: no kernel writes into it, and the set-up replaces the template's whole folder rather than
# its files, so a slot keeps the library it was made with. (Also called by ./course's set-up.)
copy_template() {
  mkdir -p "$2"
  local f
  for f in "$1"/* "$1"/.[!.]*; do
    [[ -e $f ]] || continue
    if [[ $(basename "$f") == lib ]]; then cp -al "$f" "$2/"; else cp -a "$f" "$2/"; fi
  done
}
if [[ ${1:-} == --copy-template ]]; then
  copy_template "$2" "$3"
  exit
fi

connection_file=$1
cache=${COURSE_CACHE:-$HOME/.cache/course-rust}
kernels=$cache/kernels
template=$kernels/template
evcxr=$cache/evcxr/bin/evcxr_jupyter
if [[ -n "${COURSE_RELEASE:-}" ]]; then
  # Resolved once: a course update switches the link for kernels started later, and this one
  # keeps the release it started with (the set-up deletes no release a process uses: class-server.sh).
  release=$(readlink -f "$COURSE_RELEASE")
  template=$release/template
  evcxr=$release/evcxr_jupyter
  export PATH="$COURSE_TOOLCHAIN/bin:$PATH"
  umask 077   # the student's slots and cell builds are theirs alone
else
  export PATH="$HOME/.cargo/bin:$PATH"
fi
mkdir -p "$kernels"
# evcxr loads each cell as a shared library linked to Rust's libstd.so, found through a relative
# RUNPATH that rustc computes from target/*/debug/deps; evcxr loads the copy in target/*/debug,
# one level up, and the relative path only lands right when the build directory shares no
# prefix with the toolchain (as /tmp does not with ~/.rustup). A build directory under $HOME
# would fail with "dlopen failed"; naming the library directory makes it work anywhere.
export LD_LIBRARY_PATH="$(rustc --print target-libdir)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# evcxr's profile compiles incrementally; a cell gains little from it, and a student's `:dep`
# path dependency would be optimised less across its crate.
export CARGO_INCREMENTAL=0

# The clone this script belongs to: course-lib finds the course's data/ there (data.rs,
# course_data_dir), not at the path compiled into the shared prebuilt library.
export COURSE_ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"

# Cells link against the course-lib in the slot's lib/ (see rustc-wrapper.sh), and the kernel
# loads it from there at run time (the cell's relative RUNPATH misses it, as above).
export RUSTC_WRAPPER="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/rustc-wrapper.sh"

# On a class server the release's template is linked in place (rustc-wrapper.sh). The set-up
# removes an old release only when no process uses it (class-server.sh, release_in_use): this
# kernel's evcxr_jupyter and the course-lib it loads are files of the release.
if [[ -n "${COURSE_RELEASE:-}" ]]; then
  shared_lib=$template/lib
fi

run_kernel() {
  export EVCXR_TMPDIR=$1
  export COURSE_LIB_DEPS=${shared_lib:-$1/lib}
  # Tab completion of course-lib's names (the kernel's patch, course_index.rs; kernel_lib.py).
  export COURSE_LIB_INDEX=$COURSE_LIB_DEPS/course_lib.index.json
  export LD_LIBRARY_PATH=$COURSE_LIB_DEPS:$LD_LIBRARY_PATH
  # The set-up's patched evcxr_jupyter (see ./course, setup_evcxr); COURSE_EVCXR names another
  # evcxr_jupyter binary, to compare the patched kernel with an unpatched one.
  exec "${COURSE_EVCXR:-$evcxr}" --control_file "$connection_file"
}

# A slot made from another template than today's starts again: a copy of the template, or on a
# class server an empty folder (the cells' own builds only, about 0.3 MB a cell).
renew_slot() {
  rm -rf "$1"
  if [[ -n "${COURSE_RELEASE:-}" ]]; then
    mkdir -p "$1"
    cp "$template/.template-stamp" "$1/.template-stamp"
  else
    exec {tlock}>"$template.lock"
    flock -s "$tlock"           # not while the set-up rebuilds the template
    copy_template "$template" "$1"
    exec {tlock}>&-
  fi
}

if [[ -n "${COURSE_KERNEL_DIR:-}" ]]; then
  mkdir -p "$COURSE_KERNEL_DIR"
  exec {lock}>"$COURSE_KERNEL_DIR.lock"
  flock "$lock"
  run_kernel "$COURSE_KERNEL_DIR"
fi

for i in $(seq 0 31); do
  slot=$kernels/slot-$i
  exec {lock}>"$slot.lock"
  if flock -n "$lock"; then
    # The lock stays held by this process, then by evcxr_jupyter (exec keeps the descriptor),
    # until the kernel exits.
    if [[ -d "$template" && "$(cat "$slot/.template-stamp" 2>/dev/null)" != "$(cat "$template/.template-stamp" 2>/dev/null)" ]]; then
      renew_slot "$slot"
    fi
    mkdir -p "$slot"
    run_kernel "$slot"
  fi
  exec {lock}>&-
done
echo "course kernel: all 32 build slots in $kernels are in use; close some notebooks" >&2
exit 1
