"""Spreadsheet cells and image paths as a loader meets them: untrusted until checked.

A release is a folder of spreadsheets written by someone else. A cell may hold a number or a
date where a prompt belongs, or a pasted document; an image cell may hold an absolute path, a
``..`` path, or name a symbolic link that leads out of the release. Each of these is a
:class:`~vscbench.benchmarks.findings.Finding` with its file, row and column, and the sample it
belongs to is never asked: nothing outside the data folder is ever read or sent.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Self

from vscbench.benchmarks.findings import Finding

#: A prompt cell longer than this is a defect and its samples are not asked: no benchmark prompt
#: comes near it, and a runaway cell (a pasted document) would be sent, and paid for, per sample.
MAX_PROMPT_CHARS = 20_000


class NonText(str):
    """A cell that held a number, date or boolean, as the text it reads as; ``kind`` names the
    type the workbook stored. Prompt columns must hold text: such a cell is a finding."""

    kind: str

    def __new__(cls, text: str, kind: str) -> Self:
        cell = super().__new__(cls, text)
        cell.kind = kind
        return cell


def clean_cell(value: object) -> str:
    """A cell's value as stripped text (``3.0`` -> ``3``, None -> empty)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def prompt_cell(file: str, row: int, column: str, value: object, findings: list[Finding]) -> tuple[str, str | None]:
    """A prompt cell's text, or ``("", why)`` when it cannot be sent (a finding is added): a
    cell that is not text (a number, a date) or longer than :data:`MAX_PROMPT_CHARS`."""
    if isinstance(value, NonText):
        findings.append(
            Finding("prompt_not_text", file, row, column,
                    f"the prompt cell holds a {value.kind} ({str(value)[:40]!r}), not text; "
                    "its samples cannot be asked (type the prompt as text)")
        )  # fmt: skip
        return "", "prompt is not text"
    text = value.strip() if isinstance(value, str) else clean_cell(value)
    if len(text) > MAX_PROMPT_CHARS:
        findings.append(
            Finding("prompt_too_long", file, row, column,
                    f"the prompt cell holds {len(text):,} characters, more than {MAX_PROMPT_CHARS:,}; "
                    f"its samples cannot be asked (it starts {text[:40]!r})")
        )  # fmt: skip
        return "", "prompt too long"
    return text, None


#: Why a sample whose image path leads out of the release cannot be asked.
OUTSIDE_DATA = "image path outside the data folder"

#: A folder entry that is a symbolic link out of the release (its size is never looked at).
_LINK_OUT = -1


class ImageIndex:
    """Resolves image files, notes missing, doubly used and out-of-release ones. Only stats
    files, never reads them.

    An image must be a file inside the release folder: a cell holding an absolute path, a
    ``..`` path or a category folder that climbs out, or a symbolic link pointing out, is a
    finding, and the file is never read or sent (a spreadsheet must not be able to make the
    tool upload ``~/.ssh/id_rsa.png``).
    """

    def __init__(self, root: Path, file: str) -> None:
        self.root = root
        self.file = file
        self.findings: list[Finding] = []
        self._uses: dict[Path, list[tuple[int, str]]] = defaultdict(list)
        self._listing: dict[Path, dict[str, int]] = {}
        self._real_root = root.resolve()
        self._inside: dict[Path, bool] = {}

    def _is_inside(self, path: Path) -> bool:
        """Whether ``path``, every link followed, stays inside the release folder."""
        return Path(os.path.realpath(path)).is_relative_to(self._real_root)

    def _folder_inside(self, folder: Path) -> bool:
        if folder not in self._inside:
            self._inside[folder] = self._is_inside(folder)
        return self._inside[folder]

    def _sizes(self, folder: Path) -> dict[str, int]:
        if folder not in self._listing:
            sizes: dict[str, int] = {}
            try:
                with os.scandir(folder) as entries:
                    for entry in entries:
                        if entry.is_symlink() and not self._is_inside(Path(entry.path)):
                            sizes[entry.name] = _LINK_OUT
                        elif entry.is_file():
                            sizes[entry.name] = entry.stat().st_size
            except (FileNotFoundError, NotADirectoryError):
                pass
            self._listing[folder] = sizes
        return self._listing[folder]

    def _size(self, folder: Path, name: str) -> int | None:
        """The file's size, :data:`_LINK_OUT` when it leads out of the release, None if absent."""
        if "/" not in name and "\\" not in name and name not in (".", ".."):
            return self._sizes(folder).get(name)
        path = folder / name  # a name with folders in it: resolve it as a whole
        if not self._is_inside(path):
            return _LINK_OUT
        return path.stat().st_size if path.is_file() else None

    def _outside(self, name: str, row: int, column: str, why: str) -> tuple[None, str]:
        self.findings.append(
            Finding("image_outside_data", self.file, row, column,
                    f"image file name {name!r} {why}, outside the data folder {self.root}; it is never read or sent")
        )  # fmt: skip
        return None, OUTSIDE_DATA

    def resolve(self, folder: Path, name: str, row: int, column: str) -> tuple[Path | None, str | None]:
        """The image's path, or None and the reason the sample cannot be asked."""
        if not name:
            self.findings.append(
                Finding("missing_image_name", self.file, row, column, "no image file name in the cell")
            )
            return None, "no image file name"
        if os.path.isabs(name) or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
            return self._outside(name, row, column, "is an absolute path")
        if not self._folder_inside(folder):
            return self._outside(name, row, column, f"is in the folder {folder}, which leads")
        size = self._size(folder, name)
        if size == _LINK_OUT:
            return self._outside(name, row, column, "leads (through '..' or a symbolic link)")
        path = folder / name
        self._uses[path].append((row, column))
        relative = path.relative_to(self.root).as_posix()
        if size is None:
            self.findings.append(
                Finding("missing_image", self.file, row, column, f"image file {relative} does not exist")
            )
            return None, "image file missing"
        if size == 0:
            self.findings.append(
                Finding("empty_image", self.file, row, column, f"image file {relative} is empty (0 bytes)")
            )
            return None, "image file empty"
        return path, None

    def duplicate_findings(self) -> list[Finding]:
        """One finding per use of an image used more than once, naming the first few uses and
        the count: a message listing every use would make the report grow with the square of
        the rows that share an image (4,000 rows: 2 GB)."""
        findings = []
        for path, uses in self._uses.items():
            if len(uses) < 2:
                continue
            shown = ", ".join(f"row {r} {c}" for r, c in uses[:_USES_SHOWN])
            more = f" and {len(uses) - _USES_SHOWN:,} more" if len(uses) > _USES_SHOWN else ""
            detail = f"{path.relative_to(self.root).as_posix()} is used {len(uses):,} times ({shown}{more})"
            for row, column in uses:
                findings.append(Finding("duplicate_image", self.file, row, column, detail))
        return findings


#: Uses of a shared image named in its findings; the rest are counted.
_USES_SHOWN = 5
