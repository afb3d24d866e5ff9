"""Writes build/html/index.html: one entry per executed notebook of `./course html`, with its title,
its Korean slide title, and how many figures its HTML embeds.

Usage: html_index.py HTML_DIR
"""
import html
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def figures(page: str) -> int:
    """Figures in the cells' outputs: nbconvert wraps each PNG and SVG output in these classes."""
    return len(re.findall(r'class="jp-Rendered(?:Image|SVG)\b', page))


def titles(notebook: Path):
    """The notebook's first `# ` heading, and its second (the slide's Korean title) if any."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    text = "".join(cells[0]["source"]) if cells else ""
    heads = [line[2:].strip() for line in text.splitlines() if line.startswith("# ")]
    return (heads + [notebook.stem, ""])[:2]


def main():
    out = Path(sys.argv[1])
    rows = []
    for page in sorted(out.glob("*.html")):
        if page.name == "index.html":
            continue
        notebook = ROOT / "notebooks" / (page.stem + ".ipynb")
        title, korean = titles(notebook) if notebook.exists() else (page.stem, "")
        count = figures(page.read_text(encoding="utf-8", errors="replace"))
        rows.append(
            f'<tr><td><a href="{html.escape(page.name)}">{html.escape(title)}</a></td>'
            f"<td>{html.escape(korean)}</td><td class=n>{count}</td></tr>"
        )
    (out / "index.html").write_text(
        "<!DOCTYPE html><html><head><meta charset=utf-8><title>Autoencoders and GANs in Rust</title>"
        "<style>body{font-family:sans-serif;margin:2em}td{padding:.3em 1em}.n{text-align:right}</style></head>"
        "<body><h1>Autoencoders and GANs in Rust: the executed lessons</h1>"
        "<table><tr><th>notebook</th><th>slide</th><th>figures</th></tr>"
        + "".join(rows)
        + "</table></body></html>\n",
        encoding="utf-8",
    )
    print(f"{out / 'index.html'}: {len(rows)} notebooks")


if __name__ == "__main__":
    main()
