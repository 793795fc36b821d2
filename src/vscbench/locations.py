"""Default places on disk, and how a file is put there, in a module that imports nothing from
vscbench, so ``vscbench --help`` stays fast and every stage may use it."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

DEFAULT_STORE = Path("vscbench-runs") / "store.sqlite"
"""The SQLite store every command reads and writes unless ``--store`` names another."""


class OutputError(OSError):
    """An output file that could not be written; the previous file at its path is untouched.
    The message names the path and the reason in one line."""

    def __str__(self) -> str:
        return str(self.strerror)


@contextlib.contextmanager
def replaced_atomically(path: str | os.PathLike[str], mode: str = "w", **options: Any) -> Iterator[IO[Any]]:
    """Write ``path`` all at once: the block writes a temporary file beside it, which replaces
    ``path`` only when the block ends without an error (and the bytes reached the disk). On a full
    disk, or any other failure, the temporary file is removed, the file that was at ``path`` is
    left as it was, and :class:`OutputError` says why. ``mode`` and ``options`` go to ``open``."""
    target = Path(path)
    temporary = ""
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(handle)
        with open(temporary, mode, **options) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            if temporary:
                os.unlink(temporary)
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise OutputError(
            exc.errno, f"{target}: could not be written ({reason}); the previous file is unchanged"
        ) from None
    except BaseException:
        with contextlib.suppress(OSError):
            if temporary:
                os.unlink(temporary)
        raise
