"""Builds the kernel's template build directory warm: runs a notebook's set-up cells in a kernel
whose build directory is the template, so that every notebook opened later starts from it.

Usage: warm_kernel.py TEMPLATE_DIR
"""
import json
import sys
from pathlib import Path

from kernel_client import NOTEBOOKS, RustKernel


def setup_cells():
    """The cells every notebook starts with: the first code cell of 01 (they are all the same)."""
    nb = json.loads((NOTEBOOKS / "01-linear-ae-pca.ipynb").read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    return ["".join(code[0]["source"])]


def main():
    template = Path(sys.argv[1])
    kernel = RustKernel(env={"COURSE_KERNEL_DIR": str(template), "COURSE_MODE": "quick"})
    try:
        for cell in setup_cells():
            seconds, out, error = kernel.run(cell)
            print(f"  warm-up cell: {seconds:.1f} s")
            if error:
                sys.exit(f"the warm-up cell failed:\n{out}\n{error}")
    finally:
        kernel.close()


if __name__ == "__main__":
    main()
