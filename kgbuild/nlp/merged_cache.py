"""Merged LoRA models kept on disk: merge an adapter into its base once, then load the result.

Loading an adapter means loading its base, merging the adapter's weights into it and hashing
the base's weight files for the revision; a cold ``kgbuild ask`` paid that for two models, and
every build with relations paid about a second for the document relation model's int8
adapter of rank 96. The merged model is saved once under the cache folder
(``save_pretrained``, with its revision; the pair and document models with their heads) and
later loads read it directly.

An entry's key covers everything the merge reads: the adapter folder's files (content), the
base (its folder's files by name, size and modification time, or its Hub id), the task and the
transformers and torch versions. A changed adapter or base is a new key; stale entries are
never read. Entries are written to a temporary folder and renamed into place, so two processes
never see half an entry.

The same folder remembers weight-file digests (:func:`remembered_digest`, in ``.digests``):
a model's revision hashes its weight files, 70-120 ms for a 90 MB base.

The folder is ``$KGBUILD_MODEL_CACHE``, else ``$XDG_CACHE_HOME/kgbuild/merged`` (default
``~/.cache/kgbuild/merged``); ``KGBUILD_MODEL_CACHE=off`` turns the cache off.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CACHE_ENV",
    "MergedEntry",
    "cache_root",
    "entry_for",
    "remembered_digest",
    "update_with_files",
    "user_cache_folder",
]

logger = logging.getLogger(__name__)

CACHE_ENV = "KGBUILD_MODEL_CACHE"
_OFF = frozenset({"off", "0", "false", "no", "none"})
_REVISION_FILE = "kgbuild_revision.txt"
_DIGESTS = ".digests"
"""Sub-folder of the cache folder holding :func:`remembered_digest`'s values."""
SETTLE_SECONDS = 2.0
"""A file changed this recently is hashed, not remembered: file times come from a coarse
clock, so a rewrite of the same size within one tick would look unchanged (git's "racily
clean" files)."""


def cache_root() -> Path | None:
    """The cache folder, or ``None`` when ``$KGBUILD_MODEL_CACHE`` turns the cache off."""
    configured = os.environ.get(CACHE_ENV)
    if configured is not None:
        if configured.strip().lower() in _OFF or not configured.strip():
            return None
        return Path(configured).expanduser()
    return user_cache_folder("merged")


def user_cache_folder(name: str) -> Path:
    """``$XDG_CACHE_HOME/kgbuild/<name>`` (default ``~/.cache/kgbuild/<name>``)."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "kgbuild" / name


def update_with_files(digest: Any, files: Iterable[Path]) -> None:
    """Feed each file's name, then its content, to ``digest`` (a ``hashlib`` object)."""
    for file in files:
        digest.update(file.name.encode())
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)


def remembered_digest(kind: str, files: Sequence[Path], compute: Callable[[], str]) -> str:
    """``compute()`` (a digest of ``files``' contents), remembered by the files' identity.

    ``kind`` names what ``compute`` makes: values of different kinds never mix.

    A local model's revision hashes its weight files, and a process that loads the
    document relation model hashed the 90 MB base again each time (70-120 ms). The value is
    kept in the cache folder under the files' paths, sizes, inodes and modification and
    change times, as the merged entries trust a base's files by name, size and time; any
    rewrite of a file changes its change time (files changed in the last
    :data:`SETTLE_SECONDS` are hashed every time). Without a cache folder, or where it
    cannot be read or written, ``compute()`` runs.
    """
    root = cache_root()
    if root is None:
        return compute()
    identity = hashlib.sha256(f"kgbuild-digest-v1\0{kind}".encode())
    newest = 0
    try:
        for file in files:
            stat = file.stat()
            identity.update(
                f"\0{file.resolve()}\0{stat.st_size}\0{stat.st_ino}"
                f"\0{stat.st_mtime_ns}\0{stat.st_ctime_ns}".encode()
            )
            newest = max(newest, stat.st_mtime_ns, stat.st_ctime_ns)
        if time.time_ns() - newest < SETTLE_SECONDS * 1e9:
            return compute()
        path = root / _DIGESTS / identity.hexdigest()[:32]
        remembered = path.read_text(encoding="utf-8").strip() if path.is_file() else ""
    except OSError:
        return compute()
    if remembered:
        return remembered
    value = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, staging = tempfile.mkstemp(prefix=".staging-", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(value + "\n")
            os.replace(staging, path)
        finally:
            Path(staging).unlink(missing_ok=True)  # gone once replaced
    except OSError as e:
        logger.debug("could not remember a weights digest in %s: %s", path.parent, e)
    return value


def _base_identity(base: str, digest: Any) -> None:
    path = Path(base)
    if not path.is_dir():
        digest.update(b"hub\0" + base.encode())
        return
    digest.update(b"base\0" + str(path.resolve()).encode())
    for file in sorted(path.iterdir()):
        if file.is_file():
            stat = file.stat()
            digest.update(f"\0{file.name}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())


@dataclass(frozen=True)
class MergedEntry:
    """One cache entry: the folder a merged model is saved in (it may not exist yet)."""

    path: Path

    def load(self, load_folder: Callable[[str], Any]) -> tuple[Any, str] | None:
        """The cached model (``load_folder(path)``) and its revision; ``None``: absent or damaged."""
        revision_file = self.path / _REVISION_FILE
        if not revision_file.is_file():
            return None
        try:
            model = load_folder(str(self.path))
            revision = revision_file.read_text(encoding="utf-8").strip()
        except Exception as e:  # any damage (a truncated file, a bad header): merge again
            logger.warning("merged model cache %s unreadable (%s): merging again", self.path, e)
            shutil.rmtree(self.path, ignore_errors=True)  # the merge writes it anew
            return None
        return model, revision

    def save(self, model: Any, revision: str) -> None:
        """Save ``model`` as this entry; a failure (disk full, read-only) is only logged."""
        if (self.path / _REVISION_FILE).is_file():
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.path.parent))
            try:
                model.save_pretrained(str(staging))
                (staging / _REVISION_FILE).write_text(revision + "\n", encoding="utf-8")
                os.replace(staging, self.path)
            except OSError:
                shutil.rmtree(staging, ignore_errors=True)
                if not (self.path / _REVISION_FILE).is_file():  # not another process's entry
                    raise
        except OSError as e:
            logger.warning("could not cache the merged model in %s: %s", self.path, e)


def entry_for(adapter: Path, base: str, task: str) -> MergedEntry | None:
    """The cache entry of ``adapter`` merged into ``base`` for ``task`` (``None``: cache off)."""
    root = cache_root()
    if root is None:
        return None
    import torch
    import transformers

    digest = hashlib.sha256()
    digest.update(f"{task}\0{transformers.__version__}\0{torch.__version__}\0".encode())
    update_with_files(digest, sorted(f for f in adapter.iterdir() if f.is_file()))
    _base_identity(base, digest)
    return MergedEntry(root / f"{adapter.name}-{digest.hexdigest()[:20]}")
