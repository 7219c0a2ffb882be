"""A static, self-contained gallery page (index.html) for a catalog folder."""

from __future__ import annotations

from html import escape
from pathlib import Path

from shared.domain.records import ImageRecord, Item, Manifest

STYLE = """
body{font-family:system-ui,sans-serif;margin:0;background:#f6f6f4;color:#222}
header{padding:1rem 1.5rem;background:#222;color:#fff}
header p{margin:.25rem 0 0;color:#ccc}
main{padding:1rem 1.5rem;display:grid;gap:1.5rem}
section{background:#fff;border-radius:8px;padding:1rem;box-shadow:0 1px 3px #0002}
section h2{font-size:1rem;margin:0 0 .5rem;word-break:break-all}
.photo{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}
.photo>img{max-width:min(320px,100%);max-height:420px;border-radius:4px}
.items{display:flex;flex-wrap:wrap;gap:1rem;flex:1}
figure{margin:0;width:180px}
figure img.crop{width:180px;height:220px;object-fit:contain;border-radius:4px;
 background:repeating-conic-gradient(#ddd 0 25%,#fff 0 50%) 0 0/16px 16px}
figcaption{font-size:.8rem;line-height:1.4}
.swatch{display:flex;gap:.4rem;align-items:center}
.swatch img{width:24px;height:24px;border:1px solid #0003}
.palette{display:flex;height:10px;border-radius:3px;overflow:hidden;margin-top:.25rem}
.failed{color:#a40000}
.skipped{color:#8a5a00;font-size:.8rem}
.kind{font-size:.75rem;background:#eee;border-radius:3px;padding:0 .3rem;margin-left:.4rem}
"""


def _item(item: Item) -> str:
    label = item.garment or ("look" if item.type == "look" else "product")
    # A garment or look is shown as its framed crop; a product as its cutout (on a
    # checkerboard), or its packshot where a style guide made one.
    framed = item.type != "product" or item.size is not None
    shown = item.files.image if framed else (item.files.cutout or item.files.image)
    c = item.color
    palette = (
        "".join(
            f'<span style="flex:{p.share:.3f};background:{p.hex}" title="{p.hex} {p.share:.0%}"></span>'
            for p in c.palette
        )
        if c
        else ""
    )
    category = f" · {escape(item.category)} ({item.category_score or 0:.2f})" if item.category else ""
    return f"""<figure>
<img class="crop" src="{escape(shown)}" alt="{escape(label)}">
<figcaption><b>{escape(label)}</b>{category}
<div class="swatch"><img src="{escape(item.files.swatch or "")}" alt="swatch">
<code>{escape(c.hex if c else "")}</code> {escape(f"{c.name} ({c.css_name})" if c else "")}</div>
<div class="palette">{palette}</div>
<a href="{escape(item.files.image)}" download>image</a> · <a href="{escape(item.files.cutout or "")}" download>cutout</a>
</figcaption></figure>"""  # noqa: E501


def _photo(record: ImageRecord) -> str:
    title = escape(Path(record.source).name)
    if record.status == "failed":
        return f'<section><h2>{title}</h2><p class="failed">Failed: {escape(record.error or "")}</p></section>'
    people = f" · {record.people} people" if record.kind == "person" else ""
    items = "".join(_item(i) for i in record.items) or "<p>No items found.</p>"
    skipped = "".join(f'<p class="skipped">{escape(s.output)} not made: {escape(s.reason)}</p>' for s in record.skipped)
    items += skipped
    return f"""<section><h2>{title}<span class="kind">{escape(record.kind or "")}{people}</span></h2>
<div class="photo"><img src="{escape(record.preview or "")}" alt="{title}"><div class="items">{items}</div></div></section>"""  # noqa: E501


def render_gallery(manifest: Manifest) -> str:
    """index.html for a catalog folder (file references relative to that folder)."""
    ok = sum(r.status == "ok" for r in manifest.images)
    items = sum(len(r.items) for r in manifest.images)
    body = "\n".join(_photo(r) for r in manifest.images)
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>Catalog</title><style>{STYLE}</style></head>
<body><header><h1>Catalog</h1><p>{len(manifest.images)} photos · {ok} processed · {items} items ·
<a style="color:#fff" href="manifest.json">manifest.json</a></p></header><main>{body}</main></body></html>"""
    return page


def write_gallery(manifest: Manifest, out_dir: Path) -> Path:
    path = out_dir / "index.html"
    path.write_text(render_gallery(manifest), encoding="utf-8")
    return path
