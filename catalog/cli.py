"""The `catalog` command line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from catalog.client import DEFAULT_URL
from services.gateway.api_models import JobPublic
from shared.domain.records import GARMENTS, Options
from shared.engine.chain import IMAGE_ENDED

app = typer.Typer(help="Turn product and fashion photos into a catalog.", no_args_is_help=True)
console = Console()

# The catalog options, shared by `run` (in this process) and `submit` (to a gateway).
Photos = Annotated[list[Path], typer.Argument(exists=True, help="Photos or folders of photos.")]
Garments = Annotated[str, typer.Option(help="Garment crops wanted, comma-separated.")]
Aspect = Annotated[str, typer.Option(help="Crop aspect: 3:4, 1:1, 4:5 or free.")]
Background = Annotated[str, typer.Option(help="Background of flattened images: white, transparent or #hex.")]
Format = Annotated[str, typer.Option("--format", help="Image format: jpeg, png or webp.")]
SwatchSize = Annotated[int, typer.Option(help="Swatch side in pixels.")]
PaletteSize = Annotated[int, typer.Option(help="Colours in each palette (k of k-means).")]
BUILTIN_STYLES = "full-look, headless, head-to-knees, marketplace-square"
ALL_GARMENTS = ",".join(GARMENTS)
# Where the gateway is, for submit/status/fetch.
Url = Annotated[str, typer.Option("--url", envvar="CATALOG_URL", help="The Catalog gateway.")]
ApiKey = Annotated[str | None, typer.Option("--api-key", envvar="CATALOG_API_KEY", help="API key (X-API-Key).")]
Listings = Annotated[
    Path | None,
    typer.Option(
        "--listings",
        exists=True,
        dir_okay=False,
        help="Each photo's listing, checked against it: a CSV with a 'file' column, or JSON (file name -> listing).",
    ),
]


def say(text: str) -> None:
    """A line whole (ids and URLs unwrapped); what the server wrote goes through escape()."""
    console.print(text, highlight=False, soft_wrap=True)


@app.callback()
def main() -> None:
    """Catalog: crops, cutouts, categories and colours from raw photos."""


@app.command()
def run(
    paths: Photos,
    out: Path = typer.Option(Path("catalog-out"), "--out", "-o", help="Folder to write the catalog to."),
    garments: Garments = ALL_GARMENTS,
    aspect: Aspect = "3:4",
    background: Background = "white",
    fmt: Format = "jpeg",
    swatch_size: SwatchSize = 50,
    palette_size: PaletteSize = 5,
    style: str | None = typer.Option(
        None, "--style", help=f"A style guide: a YAML or JSON file, or a built-in ({BUILTIN_STYLES})."
    ),
    listings_file: Listings = None,
) -> None:
    """Run the whole pipeline in this process (no server) and write DIR/index.html."""
    from catalog.runner import run as run_pipeline
    from shared.domain.styles import GuideError, load_guide
    from shared.infra.imageio import collect_photos

    try:
        options = Options(
            garments=[g.strip() for g in garments.split(",") if g.strip()],
            aspect=aspect,
            background=background,
            format=fmt,
            swatch_size=swatch_size,
            palette_size=palette_size,
            style=load_guide(style) if style else None,
        )
    except GuideError as exc:
        say(f"[red]error:[/red] invalid style guide {escape(style or '')}: {escape(str(exc))}")
        raise typer.Exit(1) from None
    except ValidationError as exc:  # before any photo runs, with the gateway's wording
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        say(f"[red]error:[/red] invalid options: {escape(problems)}")
        raise typer.Exit(1) from None
    files = collect_photos(paths)
    if not files:
        console.print("[red]No photos found in the given paths.[/red]")
        raise typer.Exit(1)
    listings = _listings(listings_file, [f.name for f in files])
    with Progress(console=console) as progress:
        task = progress.add_task("Processing", total=len(files))

        def done(record):
            mark = "[green]ok[/green]" if record.status == "ok" else f"[red]failed[/red]: {record.error}"
            unsure = [item for item in record.items if item.needs_review]
            if unsure:
                mark += f", [yellow]{len(unsure)} to review[/yellow] ({'; '.join(unsure[0].review_reasons)})"
            progress.console.print(f"{Path(record.source).name}: {mark}")
            progress.advance(task)

        manifest = run_pipeline(files, out, options, on_photo=done, listings=listings)
    failed = sum(r.status == "failed" for r in manifest.images)
    unsure = sum(item.needs_review for r in manifest.images for item in r.items)
    items = sum(len(r.items) for r in manifest.images)
    checked = [r.listing.verdict for r in manifest.images if r.listing]
    verdicts = {v: checked.count(v) for v in ("agree", "disagree", "unknown")}
    filed = sum(bool(c.filed) for r in manifest.images if r.listing for c in r.listing.checks)
    say(  # one line, unwrapped
        f"{len(manifest.images) - failed} ok, {failed} failed; {unsure} of {items} items need review"
        + (
            f"; listings: {verdicts['agree']} agree, {verdicts['disagree']} disagree, {verdicts['unknown']} unknown"
            + (f", {filed} filed under the listed category" if filed else "")
            if listings
            else ""
        )
        + f" -> {escape(str(out / 'index.html'))}"
    )


def _listings(path: Path | None, names: list[str]) -> dict:
    """The listings file read (ending the command with its error, naming the row and
    field); a listing for a file that is not among the photos is an error too."""
    from shared.domain.listing_files import ListingError, read_listings_file, unmatched

    if path is None:
        return {}
    try:
        listings = read_listings_file(path)
    except (ListingError, UnicodeDecodeError) as exc:
        say(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    if missing := unmatched(listings, names):
        missing_names = escape(", ".join(missing))
        say(f"[red]error:[/red] {escape(path.name)}: listings for files not among the photos: {missing_names}")
        raise typer.Exit(1)
    return listings


# --- the gateway's client: submit, status, fetch ---------------------------------------------


@contextmanager
def _gateway(url: str, api_key: str | None) -> Iterator:
    """A CatalogClient whose errors (refusals, no gateway) end the command with exit code 1
    and the server's message, not a traceback."""
    from catalog.client import CatalogClient, CatalogError

    try:
        with CatalogClient(url, api_key) as client:
            yield client
    except CatalogError as e:
        say(f"[red]error:[/red] {escape(e.message)}")
        raise typer.Exit(1) from None


def _follow(client, job: JobPublic) -> JobPublic:
    """Wait for the job with a progress bar; print each photo as it ends (failures with
    their reason)."""
    reported: set[str] = set()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"job {job.id}", total=job.progress.total)

        def show(job: JobPublic) -> None:
            for image in job.images:
                if image.status in IMAGE_ENDED and image.id not in reported:
                    reported.add(image.id)
                    ok = image.status == "ok"
                    say(
                        f"{escape(image.source)}: "
                        + ("[green]ok[/green]" if ok else f"[red]failed[/red]: {escape(str(image.error))}")
                    )
            progress.update(task, completed=job.progress.done, total=job.progress.total)

        show(job)
        return client.wait(job.id, on_progress=show, interval=0.5)


def _ended(job: JobPublic, out: Path | None) -> None:
    """The last line of a job that has ended; exit code 1 when no photo came out."""
    p = job.progress
    where = f" -> {out / 'index.html'}" if out else ""
    say(f"job {job.id} {job.status}: {p.done - p.failed} ok, {p.failed} failed{where}")
    if job.status == "failed":
        raise typer.Exit(1)


@app.command()
def submit(
    paths: Photos,
    wait: bool = typer.Option(False, "--wait", help="Follow the job until it ends, with a progress bar."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Unpack the catalog here when it ends (implies --wait)."),
    garments: Garments = ALL_GARMENTS,
    aspect: Aspect = "3:4",
    background: Background = "white",
    fmt: Format = "jpeg",
    swatch_size: SwatchSize = 50,
    palette_size: PaletteSize = 5,
    style: str | None = typer.Option(
        None, "--style", help="A style guide by name: a built-in or one stored for the key (POST /v1/styles)."
    ),
    webhook_url: str | None = typer.Option(None, help="http(s) URL the gateway calls once when the job ends."),
    listings_file: Listings = None,
    idempotency_key: str | None = typer.Option(None, help="A retry with the same key returns the first job."),
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    """Send photos to a Catalog gateway as one job; print its id and status URL.

    With --out DIR: DIR gets what `catalog run --out DIR` writes (index.html, manifest.json, ...).

    Exit code 0: the job was accepted (with --wait or --out: it ended with a photo ok).
    Exit code 1: the gateway refused the job or was not reached, or every photo failed.
    """
    from shared.infra.imageio import collect_photos

    files = collect_photos(paths)
    if not files:
        console.print("[red]No photos found in the given paths.[/red]")
        raise typer.Exit(1)
    options = {
        "garments": garments,
        "aspect": aspect,
        "background": background,
        "format": fmt,
        "swatch_size": swatch_size,
        "palette_size": palette_size,
    }
    if style:
        options["style"] = style
    if listings := _listings(listings_file, [f.name for f in files]):
        options["listings"] = json.dumps(
            {name: listing.model_dump(exclude_none=True) for name, listing in listings.items()}
        )
    with _gateway(url, api_key) as client:
        job = client.submit(files, options, idempotency_key=idempotency_key, webhook_url=webhook_url)
        say(f"job {job.id} {job.status}, {job.progress.total} photos: {job.links.self}")
        say(f"watch it in a browser: {job.links.page}")
        if not (wait or out):
            return
        job = _follow(client, job)
        if out:
            client.download_archive(job.id, out)
    _ended(job, out)


@app.command()
def status(job_id: str, url: Url = DEFAULT_URL, api_key: ApiKey = None) -> None:
    """Show a job of the gateway: its status, progress and each photo's status, stage and error."""
    from rich.table import Table

    with _gateway(url, api_key) as client:
        job = client.job(job_id)
    p = job.progress
    say(
        f"job {job.id} {job.status}: {p.done}/{p.total} done, {p.failed} failed "
        f"(created {job.created}, finished {job.finished or '-'})"
    )
    table = Table()
    for column in ("photo", "status", "stage", "error"):
        table.add_column(column)
    for image in job.images:
        table.add_row(escape(image.source), image.status, image.stage or "-", escape(image.error or ""))
    console.print(table)


@app.command()
def fetch(
    job_id: str,
    out: Path = typer.Option(..., "--out", "-o", help="Folder to unpack the catalog into."),
    wait: bool = typer.Option(False, "--wait", help="Wait for a job still running instead of exiting with 1."),
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    """Download a finished job's catalog into DIR (index.html, manifest.json, a folder per photo).

    Exit code 0: the catalog was unpacked and at least one photo is ok.
    Exit code 1: the job is still running (without --wait), every photo failed, or the gateway refused.
    """
    from catalog.client import ENDED

    with _gateway(url, api_key) as client:
        job = client.job(job_id)
        if job.status not in ENDED:
            if not wait:
                p = job.progress
                say(
                    f"job {job_id} is still {job.status} ({p.done}/{p.total} done): "
                    "fetch it when it has ended, or add --wait"
                )
                raise typer.Exit(1)
            job = _follow(client, job)
        client.download_archive(job_id, out)
    _ended(job, out)


@app.command("eval")
def evaluate_cmd(
    labels: list[Path] = typer.Argument(
        ..., exists=True, dir_okay=False, help="Labels JSON (one entry per photo); one per labelled set."
    ),
    images: list[Path] = typer.Option(
        ..., "--images", exists=True, file_okay=False, help="Folder holding a set's photos, in the order of LABELS."
    ),
    report: Path | None = typer.Option(None, "--report", help="Write the full report as JSON here."),
    out: Path | None = typer.Option(None, "--out", help="Keep the catalogs and the worst-cases sheets here."),
) -> None:
    """Score the pipeline against hand labels: kind, people, garments, taxonomy, colour.
    Several labelled sets are scored side by side, and each fitted confidence is measured
    on each set fitted on the others."""
    import json

    from catalog.crossfit import cross_fit
    from catalog.evaluation import evaluate

    if len(labels) != len(images):
        raise typer.BadParameter(
            f"{len(labels)} labels files but {len(images)} --images folders: give one of each per set"
        )
    names = _set_names(images)
    results = {}
    for name, labels_file, folder in zip(names, labels, images):
        count = len(json.loads(labels_file.read_text()))
        with Progress(console=console) as progress:
            task = progress.add_task(f"Evaluating {name}", total=count)
            set_out = out / name if out and len(names) > 1 else out
            results[name] = evaluate(labels_file, folder, set_out, on_photo=lambda _, t=task: progress.advance(t))
    crossed = cross_fit({name: {"products": r["products"], "colours": r["colours"]} for name, r in results.items()})

    console.print(_accuracy_table(results))
    console.print(_cross_fit_table(crossed))
    for name, result in results.items():
        console.print(f"{name}: {len(result['failures'])} photos with problems; worst cases: {result['contact_sheet']}")
        for photo in result["failures"]:
            console.print(f"  {photo['file']}: " + "; ".join(photo["problems"]), highlight=False)
    if report:
        whole = (
            {**results[names[0]], "cross_fit": crossed} if len(names) == 1 else {"sets": results, "cross_fit": crossed}
        )
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(whole, indent=2))
        console.print(f"report: {report}")


def _set_names(folders: list[Path]) -> list[str]:
    """Each set by its folder's name (its path where two names are the same)."""
    names = [folder.name for folder in folders]
    return names if len(set(names)) == len(names) else [str(folder) for folder in folders]


EVAL_ROWS = (
    "photos", "kind_accuracy", "people_count_accuracy", "taxonomy_top1", "taxonomy_top3", "products_flagged",
    "taxonomy_top1_unflagged", "products_flagged_for_category", "taxonomy_top1_unflagged_for_category",
    "colour_name_agreement", "colour_name_agreement_word_only", "colour_de2000_median",
    "colour_de2000_p90", "colours_flagged", "colour_name_agreement_unflagged",
    "colour_name_agreement_unflagged_word_only", "colours_of_flagged_items", "colour_name_agreement_of_unflagged_items",
)  # fmt: skip


def _fmt(value: object) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _accuracy_table(results: dict[str, dict]):
    """One column per set; with one set, a column per top-level category beside it."""
    from rich.table import Table

    photos = sum(r["photos"] for r in results.values())
    table = Table(title=f"Catalog accuracy on {photos} labelled photos")
    table.add_column("measure", no_wrap=True)
    columns = list(results.items())
    if len(results) == 1:
        (only,) = results.values()
        columns = [("overall", only), *only["per_category"].items()]
    for name, _ in columns:
        table.add_column(name, justify="right")
    for key in EVAL_ROWS:
        table.add_row(key, *(_fmt(r[key]) for _, r in columns))
    for garment in ("top", "bottom", "headwear", "shoes"):
        pr = [r["garments"][garment] for _, r in columns]
        table.add_row(f"{garment} precision / recall", *(f"{_fmt(g['precision'])} / {_fmt(g['recall'])}" for g in pr))
    return table


def _cross_fit_table(crossed: dict[str, dict[str, dict]]):
    """Each fitted flag measured on photos it was not fitted on."""
    from rich.table import Table

    table = Table(title="Review flags fitted on other photos than those measured (cross-fit)")
    for column in ("flag", "measured on", "fitted on", "items", "flagged", "right of the unflagged", "right of all"):
        table.add_column(column)
    for piece, sets in crossed.items():
        for name, m in sets.items():
            table.add_row(
                piece, name, m["fitted_on"], str(m["items"]), _fmt(m["flagged"]), _fmt(m["right_unflagged"]),
                _fmt(m["right_all"]),
            )  # fmt: skip
    return table


if __name__ == "__main__":
    app()
