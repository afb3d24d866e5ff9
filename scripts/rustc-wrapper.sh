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
# course-lib, so a variable holding a course-lib value needs an explicit type, and Tab completion
# does not list course-lib's items.
#
# cargo calls this as `rustc-wrapper.sh RUSTC ARGS...`. kernel.sh sets COURSE_LIB_DEPS to the
# build directory's deps folder, where the set-up's `:dep` build left libcourse_lib.so; the
# dependencies' metadata is found there and in target/debug/deps, which cargo already passes as
# `-L dependency=`. On a class server the slot holds no deps folder of course-lib's: kernel.sh
# points COURSE_LIB_DEPS at the shared release's template, and COURSE_LIB_HOST_DEPS at the
# template's host deps folder; this adds both to the search path (rustc needs every crate
# course-lib was built against, the host's proc-macro crates among them).
# A cell crate that has course-lib as a cargo dependency (a student's own
# `:dep course-lib = ...`, or the set-up's warm-up) is left alone: cargo links it itself.
rustc=$1
shift
dylib=${COURSE_LIB_DEPS:-}/libcourse_lib.so
case " $* " in
  *" --extern course_lib="*) ;;
  *" --crate-name ctx "*)
    if [[ -n ${COURSE_LIB_DEPS:-} && -f $dylib ]]; then
      if [[ -n ${COURSE_LIB_HOST_DEPS:-} ]]; then
        exec "$rustc" "$@" --extern "course_lib=$dylib" -L "dependency=$COURSE_LIB_DEPS" \
          -L "dependency=$COURSE_LIB_HOST_DEPS"
      fi
      exec "$rustc" "$@" --extern "course_lib=$dylib"
    fi
    ;;
esac
exec "$rustc" "$@"
