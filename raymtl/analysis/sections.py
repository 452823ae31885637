"""The pieces a report is made of: a section (HTML and its Markdown twin, tables, embedded PNGs),
the review figures' order and their PNGs read back from TensorBoard event files. Shared by the
search report (report.py) and the run report (run_report.py), which import it, not each other.
"""

from __future__ import annotations

import base64
import html
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

FIGURE_ORDER = ("review/learning_curves", "review/causal_effects", "review/alpha", "review/beta",
                "review/confusion", "review/label_map")


@dataclass
class Image:
    name: str
    caption: str
    png: bytes


@dataclass
class Section:
    key: str
    title: str
    html: list[str] = field(default_factory=list)
    md: list[str] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)

    def text(self, html_text: str, md_text: str | None = None) -> None:
        self.html.append(html_text)
        self.md.append(md_text if md_text is not None else re.sub(r"<[^>]+>", "", html.unescape(html_text)))

    def image(self, name: str, caption: str, png: bytes) -> None:
        img = Image(name, caption, png)
        self.images.append(img)
        b64 = base64.b64encode(png).decode("ascii")
        self.html.append(f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{b64}">'
                         f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        self.md.append(f"![{caption}](IMAGES/{name}.png)")

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        h = "".join(f"<th>{html.escape(str(c))}</th>" for c in header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(format_cell(c))}</td>" for c in r) + "</tr>" for r in rows)
        self.html.append(f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>")
        md = ["| " + " | ".join(str(c) for c in header) + " |", "|" + "---|" * len(header)]
        md += ["| " + " | ".join(format_cell(c).replace("|", "\\|") for c in r) + " |" for r in rows]
        self.md.append("\n".join(md))


def format_cell(v: Any) -> str:
    """A table cell: floats to 4 decimals, None and NaN as a dash."""
    if v is None:
        return "–"
    if isinstance(v, float):
        if math.isnan(v):
            return "–"
        return f"{v:.4f}" if abs(v) < 1e4 else f"{v:.4g}"
    return str(v)


def event_images(logdir: Path) -> dict[str, bytes]:
    """tag -> PNG of the last image summary of every image tag (TensorBoard's own event reader)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={"images": 0})
    acc.Reload()
    return {tag: acc.Images(tag)[-1].encoded_image_string for tag in acc.Tags().get("images", [])}
