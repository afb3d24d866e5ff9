"""Warms the kernel's template build directory, so that every notebook opened later starts from
it: evcxr builds its cell crate there once, linked against the course-lib that the set-up put
into the template's lib/ (scripts/kernel_lib.py, rustc-wrapper.sh).

Usage: warm_kernel.py TEMPLATE_DIR   warm the template
       warm_kernel.py --check        start a kernel as a notebook does (in a slot copied from the
                                     template) and check that its set-up cell and a stored
                                     course-lib variable work
"""
import json
import sys

from kernel_client import NOTEBOOKS, RustKernel


def setup_cells():
    """The cells every notebook starts with: the first code cell of 01 (they are all the same)."""
    nb = json.loads((NOTEBOOKS / "01-linear-ae-pca.ipynb").read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    return ["".join(code[0]["source"])]


# A cell that stores a course-lib variable: the warm-up builds that path of the cell crate too, and
# the check proves a kernel can keep one.
STORED_VARIABLE = "let mode: Mode = Mode::from_env();"


def run_cells(env, cells, what):
    kernel = RustKernel(env={**env, "COURSE_MODE": "quick"})
    try:
        for cell in cells:
            seconds, out, error = kernel.run(cell)
            print(f"  {what} cell: {seconds:.1f} s")
            if error:
                sys.exit(f"the {what} cell failed:\n{cell}\n{out}\n{error}")
    finally:
        kernel.close()


def main():
    if sys.argv[1] == "--check":
        run_cells({}, [*setup_cells(), STORED_VARIABLE], "kernel check")
    else:
        run_cells({"COURSE_KERNEL_DIR": sys.argv[1]}, [*setup_cells(), STORED_VARIABLE], "warm-up")


if __name__ == "__main__":
    main()
