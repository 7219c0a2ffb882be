"""The `catalog` command line."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress

from shared.schemas import GARMENTS, Options

app = typer.Typer(help="Turn product and fashion photos into a catalog.", no_args_is_help=True)
console = Console()


@app.callback()
def main() -> None:
    """Catalog: crops, cutouts, categories and colours from raw photos."""


@app.command()
def run(
    paths: list[Path] = typer.Argument(..., exists=True, help="Photos or folders of photos."),
    out: Path = typer.Option(Path("catalog-out"), "--out", "-o", help="Folder to write the catalog to."),
    garments: str = typer.Option(",".join(GARMENTS), help="Garment crops wanted, comma-separated."),
    aspect: str = typer.Option("3:4", help="Crop aspect: 3:4, 1:1, 4:5 or free."),
    background: str = typer.Option("white", help="Background of flattened images: white, transparent or #hex."),
    fmt: str = typer.Option("jpeg", "--format", help="Image format: jpeg, png or webp."),
    swatch_size: int = typer.Option(50, help="Swatch side in pixels."),
    palette_size: int = typer.Option(5, help="Colours in each palette (k of k-means)."),
) -> None:
    """Run the whole pipeline in this process (no server) and write DIR/index.html."""
    from shared.pipeline import collect, run as run_pipeline

    options = Options(
        garments=[g.strip() for g in garments.split(",") if g.strip()], aspect=aspect,
        background=background, format=fmt, swatch_size=swatch_size, palette_size=palette_size,
    )
    files = collect(paths)
    if not files:
        console.print("[red]No photos found in the given paths.[/red]")
        raise typer.Exit(1)
    with Progress(console=console) as progress:
        task = progress.add_task("Processing", total=len(files))

        def done(record):
            mark = "[green]ok[/green]" if record.status == "ok" else f"[red]failed[/red]: {record.error}"
            progress.console.print(f"{Path(record.source).name}: {mark}")
            progress.advance(task)

        manifest = run_pipeline(files, out, options, on_photo=done)
    failed = sum(r.status == "failed" for r in manifest.images)
    console.print(f"{len(manifest.images) - failed} ok, {failed} failed -> {out / 'index.html'}")


@app.command("eval")
def evaluate_cmd(
    labels: Path = typer.Argument(..., exists=True, dir_okay=False, help="Labels JSON (one entry per photo)."),
    images: Path = typer.Option(..., "--images", exists=True, file_okay=False, help="Folder holding the labelled photos."),
    report: Path | None = typer.Option(None, "--report", help="Write the full report as JSON here."),
    out: Path | None = typer.Option(None, "--out", help="Keep the catalog and the worst-cases sheet here."),
) -> None:
    """Score the pipeline against hand labels: kind, people, garments, taxonomy, colour."""
    import json

    from rich.table import Table

    from shared.evaluation import evaluate

    count = len(json.loads(labels.read_text()))
    with Progress(console=console) as progress:
        task = progress.add_task("Evaluating", total=count)
        result = evaluate(labels, images, out, on_photo=lambda _: progress.advance(task))

    table = Table(title=f"Catalog accuracy on {result['photos']} labelled photos")
    table.add_column("measure")
    table.add_column("overall", justify="right")
    groups = list(result["per_category"])
    for group in groups:
        table.add_column(group, justify="right")
    fmt = lambda v: "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    rows = ["photos", "kind_accuracy", "people_count_accuracy", "taxonomy_top1", "taxonomy_top3",
            "colour_name_agreement", "colour_de2000_median", "colour_de2000_p90"]
    for key in rows:
        table.add_row(key, fmt(result[key]), *(fmt(result["per_category"][g][key]) for g in groups))
    for garment, pr in result["garments"].items():
        table.add_row(f"{garment} precision / recall", f"{fmt(pr['precision'])} / {fmt(pr['recall'])}",
                      *("" for _ in groups))
    console.print(table)
    console.print(f"{len(result['failures'])} photos with problems; worst cases: {result['contact_sheet']}")
    for photo in result["failures"]:
        console.print(f"  {photo['file']}: " + "; ".join(photo["problems"]), highlight=False)
    if report:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(result, indent=2))
        console.print(f"report: {report}")


if __name__ == "__main__":
    app()
