#!/usr/bin/env bash
# RUSTC_WRAPPER for the notebook kernel: links each notebook cell against the course-lib that the
# set-up built, without making course-lib a cargo dependency of the cell crate.
#
# Why: evcxr builds each cell as a crate named `ctx`, and analyses it with an embedded
# rust-analyzer that loads every package in the cell crate's cargo lock file. With course-lib as
# a dependency that is burn 0.22 and all its optional backends' dependencies (574 packages):
# 35-43 s for the set-up cell, 23-32 s for the first cell that stores a variable, ~0.7 s of
# no-op `cargo build` in every cell after. Handing rustc the prebuilt library directly skips all
# of that (0.2-0.3 s, about 4 s, and 0.7-0.9 s per trivial cell in all). The price: rust-analyzer does not see
# course-lib, so rustc names a course-lib variable's type (the kernel's patch), and rust-analyzer's
# Tab completion does not list course-lib's items.
#
# cargo calls this as `rustc-wrapper.sh RUSTC ARGS...`. kernel.sh sets COURSE_LIB_DEPS to the
# slot's lib/ (on a class server, the release's template's lib/), where the set-up put
# libcourse_lib.so with the metadata of every crate under it and the proc-macro libraries
# (scripts/kernel_lib.py); rustc finds them there through `-L dependency=`.
# A cell crate that has course-lib as a cargo dependency (a student's own
# `:dep course-lib = ...`) is left alone: cargo links it itself.
rustc=$1
shift
dylib=${COURSE_LIB_DEPS:-}/libcourse_lib.so
case " $* " in
  *" --extern course_lib="*) ;;
  *" --crate-name ctx "*)
    if [[ -n ${COURSE_LIB_DEPS:-} && -f $dylib ]]; then
      exec "$rustc" "$@" --extern "course_lib=$dylib" -L "dependency=$COURSE_LIB_DEPS"
    fi
    ;;
esac
exec "$rustc" "$@"
