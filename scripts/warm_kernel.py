"""Builds the kernel's template build directory warm, so that every notebook opened later starts
from it: course-lib, built by evcxr with the kernel's own profile as a cargo dependency of the cell
crate, leaves the libcourse_lib.so that the notebooks' cells are linked against (see
rustc-wrapper.sh). Then a notebook's set-up cell checks that the library links and loads.

Usage: warm_kernel.py TEMPLATE_DIR
"""
import json
import sys
from pathlib import Path

from kernel_client import NOTEBOOKS, RustKernel

# The cell that builds course-lib in the template. The notebooks do not say `:dep`: their cells
# get course-lib from rustc-wrapper.sh (a cell crate with course-lib as a cargo dependency pays
# rust-analyzer's load of burn's whole dependency graph on every kernel start).
BUILD_CELL = ':dep course-lib = { path = "../course-lib" }\nuse course_lib::prelude::*;'


def setup_cells():
    """The cells every notebook starts with: the first code cell of 01 (they are all the same)."""
    nb = json.loads((NOTEBOOKS / "01-linear-ae-pca.ipynb").read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    return ["".join(code[0]["source"])]


def main():
    template = Path(sys.argv[1])
    kernel = RustKernel(env={"COURSE_KERNEL_DIR": str(template), "COURSE_MODE": "quick"})
    try:
        for cell in [BUILD_CELL, *setup_cells()]:
            seconds, out, error = kernel.run(cell)
            print(f"  warm-up cell: {seconds:.1f} s")
            if error:
                sys.exit(f"the warm-up cell failed:\n{cell}\n{out}\n{error}")
    finally:
        kernel.close()


if __name__ == "__main__":
    main()
