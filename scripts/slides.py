"""Gives every cell of the course's notebooks its slideshow metadata, so that a teacher presents a
lesson as slides from JupyterLab (the RISE extension, `jupyterlab-rise`, installed by the set-up:
open a notebook and press Alt+R, or the "Render as slides" button).

The rule, one for every notebook:
- a markdown cell that opens with a `#` or `##` heading starts a slide;
- a `###` heading starts a sub-slide (below its slide, reached with the down arrow);
- the first code cell after a heading shares its slide; each further code cell is a sub-slide of
  its own, so that a figure is never pushed off the screen by the cells above it;
- any other markdown cell (a read-out after a figure) shares the slide of the cell above it.

Usage: slides.py [--check] [NOTEBOOK ...]   (default: notebooks/*.ipynb and tests/notebooks/)
--check changes nothing and exits 1 if a notebook's metadata differs from the rule, or if a
markdown cell has a `##` heading after its first line (the notebook tests run it).
"""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def slide_types(cells):
    types = []
    code_since_heading = 0
    for cell in cells:
        text = "".join(cell["source"]).lstrip()
        if cell["cell_type"] == "markdown" and (text.startswith("# ") or text.startswith("## ")):
            types.append("slide")
            code_since_heading = 0
        elif cell["cell_type"] == "markdown" and text.startswith("### "):
            types.append("subslide")
            code_since_heading = 0
        elif cell["cell_type"] == "code":
            types.append("-" if code_since_heading == 0 else "subslide")
            code_since_heading += 1
        else:
            types.append("-")
    if types:
        types[0] = "slide"
    return types


def main():
    args = sys.argv[1:]
    check = "--check" in args
    paths = [Path(a) for a in args if a != "--check"] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    differ = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        nb = json.loads(text)
        for cell, kind in zip(nb["cells"], slide_types(nb["cells"])):
            cell.setdefault("metadata", {})["slideshow"] = {"slide_type": kind}
        new = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        if new != text:
            differ.append(path)
            if not check:
                path.write_text(new, encoding="utf-8")
    # A heading opens a slide, so it must open its cell: a markdown cell that closes one topic
    # and opens the next under a `##` heading would put both on one slide.
    for path in paths:
        for i, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
            text = "".join(cell["source"]).strip()
            if cell["cell_type"] == "markdown" and "\n## " in text:
                differ.append(path)
                print(f"{path.name}, cell {i}: a `##` heading in the middle of a markdown cell; split the cell there")
    if check and differ:
        names = ", ".join(p.name for p in differ)
        sys.exit(f"slideshow metadata out of date in {names}: run python3 scripts/slides.py")
    if not check:
        print(f"slideshow metadata: {len(paths)} notebooks, {len(differ)} changed")


if __name__ == "__main__":
    main()
