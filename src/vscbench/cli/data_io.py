"""`vscbench data fetch` and `vscbench data export`: get the release, and convert samples."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from vscbench.cli.app import data_app
from vscbench.cli.common import console, fail, plain, writable_output


def _parse_checksums(values: list[str]) -> dict[str, str]:
    checksums = {}
    for value in values:
        name, sep, digest = value.partition("=")
        digest = digest.strip().lower()
        if not sep or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            fail(f"--sha256 {value!r} is not NAME=HEX with a 64-digit hex sha256, e.g. "
                 "--sha256 vscbench_image_centric.xlsx=3f2a...")  # fmt: skip
        checksums[name.strip()] = digest
    return checksums


@data_app.command("fetch")
def fetch(
    dest: Path = typer.Option(..., "--dest", help="Folder to download the release into (created if missing)."),
    image_centric_url: str | None = typer.Option(
        None, help="URL (or local path) of vscbench_image_centric.xlsx.", envvar="VSCBENCH_IMAGE_CENTRIC_URL"
    ),
    text_centric_url: str | None = typer.Option(
        None, help="URL (or local path) of vscbench_text_centric.xlsx.", envvar="VSCBENCH_TEXT_CENTRIC_URL"
    ),
    images_url: str | None = typer.Option(
        None,
        help="URL (or local path) of the image zip; default: the upstream Google Drive file.",
        envvar="VSCBENCH_IMAGES_URL",
    ),
    no_images: bool = typer.Option(False, "--no-images", help="Fetch only the two spreadsheets."),
    sha256: list[str] = typer.Option(
        [],
        "--sha256",
        metavar="NAME=HEX",
        help="Expected sha256 of a file (vscbench_image_centric.xlsx, vscbench_text_centric.xlsx, "
        "vscbench_images.zip); repeatable. No checksum of the upstream files is built in (they could "
        "not be hashed where this tool was written), so without this option downloads are only "
        "checked to be complete zip files.",
    ),
    force: bool = typer.Option(False, "--force", help="Download and extract again even if already present."),
    keep_archive: bool = typer.Option(False, "--keep-archive", help="Keep the image zip after extracting it."),
    retries: int = typer.Option(3, min=0, help="Retries after a dropped connection or server error."),
    timeout: float = typer.Option(60.0, help="Seconds to wait for the server before retrying."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Download the VSCBench release: the two spreadsheets and the image archive.

    Interrupted downloads resume (NAME.part); a file already downloaded and verified is skipped. The image folders are found anywhere in the archive and placed directly under DEST.

    If Google Drive refuses the download (quota), download the zip in a browser and pass its path with --images-url.

    Example: [bold]vscbench data fetch --dest ./vscbench-data[/bold]
    """
    from vscbench.benchmarks.vscbench import IMAGE_CENTRIC_FILE, TEXT_CENTRIC_FILE
    from vscbench.fetch.release import IMAGES_ARCHIVE, FetchError, default_sources, describe_release, fetch_release

    urls = {IMAGE_CENTRIC_FILE: image_centric_url, TEXT_CENTRIC_FILE: text_centric_url, IMAGES_ARCHIVE: images_url}
    sources = default_sources(urls, _parse_checksums(sha256), images=not no_images)
    try:
        root = fetch_release(dest, sources, force=force, keep_archive=keep_archive, retries=retries,
                             timeout=timeout, show_progress=not quiet)  # fmt: skip
    except (FetchError, OSError) as exc:
        fail(str(exc))
    table = Table(title="VSCBench release", show_header=True)
    table.add_column("path", overflow="fold")
    table.add_column("content")
    for path, what in describe_release(root):
        table.add_row(plain(path), plain(what))
    console.print(table)
    console.print(f"Next: [bold]vscbench data check {plain(root)}[/bold]")


@data_app.command("export")
def export(
    data: Path = typer.Argument(..., help="Release folder, or a .jsonl/.parquet file or saved dataset to convert."),
    fmt: str = typer.Option("parquet", "--format", "-f", help="parquet, jsonl or hf (a datasets save_to_disk folder)."),
    out: Path = typer.Option(..., "--out", "-o", help="File (parquet, jsonl) or folder (hf) to write."),
    subset: str = typer.Option("all", help="image_centric, text_centric or all."),
    variant: list[str] = typer.Option([], "--variant", help="Keep only these variants (repeatable), e.g. typography."),
    absolute_paths: bool = typer.Option(
        False, "--absolute-paths", help="jsonl: write absolute image paths instead of paths relative to the file."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT if it exists."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Export samples, one row each, with every Sample field (meta as a JSON string).

    parquet and hf embed the images (a datasets.Image column `image`); jsonl refers to them by path. Any export loads back with vscbench.benchmarks.samples.load_samples, and with datasets.load_dataset("parquet", data_files=OUT).

    Example: [bold]vscbench data export ./vscbench-data --format parquet --out vscbench.parquet[/bold]
    """
    from vscbench.benchmarks.export import EXPORT_FORMATS, export_samples
    from vscbench.benchmarks.findings import DatasetError
    from vscbench.benchmarks.samples import load_samples

    if fmt not in EXPORT_FORMATS:
        fail(f"--format {fmt!r} is not one of {', '.join(EXPORT_FORMATS)}")
    if subset not in ("all", "image_centric", "text_centric"):
        fail(f"--subset {subset!r} is not one of all, image_centric, text_centric")
    writable_output(out, folder_ok=fmt == "hf")
    try:
        loaded = load_samples(data, subset=subset, variants=variant or None, warn=False)
        if not loaded.samples:
            fail(f"no samples in {data} match --subset {subset} --variant {', '.join(variant) or 'any'}")
        root = data if data.is_dir() else None
        written = export_samples(loaded.samples, fmt, out, root=root, absolute_paths=absolute_paths,
                                 overwrite=overwrite, show_progress=not quiet)  # fmt: skip
    except (DatasetError, FileExistsError, OSError) as exc:
        fail(str(exc))
    console.print(f"wrote {len(loaded.samples)} samples to [bold]{plain(written)}[/bold] ({fmt})")
    if loaded.report.unusable:
        console.print(f"[yellow]{len(loaded.report.unusable)} samples could not be exported[/yellow] "
                      f"({plain(loaded.report.summary())}); see `vscbench data check {plain(data)}`")  # fmt: skip
