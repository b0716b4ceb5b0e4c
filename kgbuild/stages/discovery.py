"""Find input files: folders (walked), single files and glob patterns.

Folders are walked with their symlinks followed, each folder once: a symlink that leads
back into a folder that contains it (a loop), a second way into a folder already read,
a symlink that cannot be resolved (a loop of links) and a broken symlink with an input
extension are each recorded as a failure of that path, never skipped silently, as is a
named pipe, socket or device with an input extension (never opened: reading it would wait
forever or never end). A symlink that leads out of the folder given (``notes/key ->
~/.ssh``) is not followed but recorded too, unless ``outside_links`` allows it: whoever can
write into an input folder could otherwise have a build read (and publish in its graph) any
file its user can read. Glob patterns (``notes/**/*.md``) are matched by the same walk, from
the folder before their first wildcard, so a loop cannot make them run away either.
"""

from __future__ import annotations

import errno
import glob
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from kgbuild.config import expand_home
from kgbuild.data import DocumentFailure
from kgbuild.errors import InputError

__all__ = ["FoundInputs", "Inputs", "check_inputs", "find_inputs", "glob_root", "input_paths"]

STAGE = "ingest"

Parts = tuple[str, ...]

Inputs = str | Path | Sequence[str | Path]
"""Input paths: folders, files or globs, or one of them alone."""


@dataclass
class FoundInputs:
    """``(file, root)`` pairs (``root``: the folder ids are relative to), and paths not read."""

    files: list[tuple[Path, Path]] = field(default_factory=list)
    failures: list[DocumentFailure] = field(default_factory=list)
    other_types: dict[Path, list[Path]] = field(default_factory=dict)
    """Per folder given: its files of other extensions, left out (hidden files and folders
    not listed)."""


def input_paths(paths: Inputs) -> list[str | Path]:
    """``paths`` as a list: one path given alone (text or a ``Path``) is one input.

    A text is a sequence of its characters: walked as such, ``"./docs"`` read the current
    folder and ``/``, then failed on ``d``.

    Raises:
        InputError: no path at all (a build of nothing would delete every document).
    """
    if isinstance(paths, str | os.PathLike):
        return [Path(paths)]
    found = list(paths)
    if not found:
        raise InputError(
            "no input paths given: name the folders, files or globs to read (a build "
            "deletes the documents its input no longer holds; to delete them all, build "
            "an empty folder)"
        )
    return found


def check_inputs(paths: Inputs) -> None:
    """Refuse, before a build opens its output folder, a path that is not there.

    Only a path without wildcards is checked (a glob is matched when the build reads).

    Raises:
        InputError: no paths, or one that does not exist (as :func:`find_inputs` says).
    """
    for raw in input_paths(paths):
        path = expand_home(Path(raw))
        if not glob.has_magic(str(raw)) and not path.exists() and not path.is_symlink():
            raise InputError(f"input path {raw} does not exist and matches no files")


def find_inputs(
    paths: Inputs, extensions: Sequence[str], *, outside_links: bool = False
) -> FoundInputs:
    """Expand folders and globs into ``(file, root)`` pairs, sorted for determinism.

    A path named itself is read wherever it leads; a symlink met inside a folder (or below
    a glob's folder) that leads out of it is followed only with ``outside_links``.

    Raises:
        InputError: no paths, or a path that does not exist and matches no files.
    """
    found: dict[Path, Path] = {}
    failures: list[DocumentFailure] = []
    other_types: dict[Path, list[Path]] = {}
    for raw in input_paths(paths):
        path = expand_home(Path(raw))  # "~/notes/*.md", quoted so that the shell leaves the glob
        if path.is_dir():
            walk = _Walk(
                path,
                accept=lambda parts: Path(parts[-1]).suffix.lower() in extensions,
                enter=lambda parts: True,
                outside_links=outside_links,
            )
            for file in walk.files():
                found.setdefault(file, path)
            failures += walk.failures
            if walk.left_out:
                other_types.setdefault(path, []).extend(walk.left_out)
        elif path.is_file():
            found.setdefault(path, path.parent)
        elif path.exists():
            raise InputError(f"input path {raw!s} is {_special(path.stat().st_mode)}: not read")
        elif path.is_symlink():
            raise InputError(f"input path {raw!s} is a broken symlink or a symlink loop")
        else:
            root, files, walk_failures = _expand_glob(str(path), outside_links=outside_links)
            for file in files:
                found.setdefault(file, root)
            failures += walk_failures
    return FoundInputs(
        sorted(found.items(), key=lambda item: item[0].as_posix()), failures, other_types
    )


def glob_root(pattern: Path) -> Path:
    """The folder part of a glob pattern before its first wildcard."""
    fixed = list(pattern.parts)
    for index, part in enumerate(pattern.parts):
        if glob.has_magic(part):
            fixed = list(pattern.parts[:index])
            break
    return Path(*fixed) if fixed else Path()


def _expand_glob(
    raw: str, *, outside_links: bool
) -> tuple[Path, list[Path], list[DocumentFailure]]:
    pattern = Path(raw)
    root = glob_root(pattern)
    wanted = pattern.parts[len(root.parts) :]
    files: list[Path] = []
    failures: list[DocumentFailure] = []
    if wanted and root.is_dir():
        walk = _Walk(
            root,
            accept=lambda parts: _matches(parts, wanted),
            enter=lambda parts: _may_contain(parts, wanted),
            outside_links=outside_links,
        )
        files = walk.files()
        failures = walk.failures
    if not files:
        raise InputError(f"input path {raw} does not exist and matches no files")
    return root, files, failures


def _matches(parts: Parts, pattern: Parts) -> bool:
    """Whether a relative path matches glob segments (``**``: any number of folders).

    As in :mod:`glob`, a wildcard does not match a name that starts with a dot unless
    the pattern's segment does.
    """
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        for taken in range(len(parts) + 1):
            if _matches(parts[taken:], rest):
                return True
            if taken < len(parts) and parts[taken].startswith("."):
                return False
        return False
    if not parts:
        return False
    name = parts[0]
    if name.startswith(".") and not head.startswith(".") and glob.has_magic(head):
        return False
    return fnmatchcase(name, head) and _matches(parts[1:], rest)


def _may_contain(parts: Parts, pattern: Parts) -> bool:
    """Whether files below the folder ``parts`` can match the glob segments."""
    if not parts:
        return bool(pattern)
    if not pattern:
        return False
    head, rest = pattern[0], pattern[1:]
    name = parts[0]
    hidden = name.startswith(".") and not head.startswith(".")
    if head == "**":
        return _may_contain(parts, rest) or (not hidden and _may_contain(parts[1:], pattern))
    if hidden and glob.has_magic(head):
        return False
    return fnmatchcase(name, head) and _may_contain(parts[1:], rest)


def _special(mode: int) -> str:
    """What a file that is neither a regular file nor a folder is, in words."""
    if stat.S_ISFIFO(mode):
        kind = "a named pipe (FIFO)"
    elif stat.S_ISSOCK(mode):
        kind = "a socket"
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        kind = "a device"
    else:
        kind = "a special file"
    return f"not a regular file but {kind}"


class _Walk:
    """One folder tree, walked with symlinks followed and each folder read once.

    ``accept`` says which files (paths relative to the root, as parts) are wanted and
    ``enter`` which folders may hold some; ``outside_links`` lets symlinks lead out of the
    root.
    """

    def __init__(
        self,
        root: Path,
        *,
        accept: Callable[[Parts], bool],
        enter: Callable[[Parts], bool],
        outside_links: bool = False,
    ) -> None:
        self.root = root
        self.accept = accept
        self.enter = enter
        self.outside_links = outside_links
        self._real_root = root.resolve()
        self.failures: list[DocumentFailure] = []
        self.left_out: list[Path] = []
        """Regular files not accepted (hidden ones not listed)."""
        self._read: dict[tuple[int, int], Path] = {}

    def files(self) -> list[Path]:
        """Accepted files; symlinked folders are followed after the real tree, once each."""
        found: list[Path] = []
        root_stat = self.root.stat()
        self._read[(root_stat.st_dev, root_stat.st_ino)] = self.root
        folders: list[tuple[Path, Parts]] = [(self.root, ())]
        links: list[tuple[Path, Parts]] = []
        while folders or links:
            if folders:
                folder, rel = folders.pop()
                found += self._scan(folder, rel, folders, links)
            else:
                link, rel = links.pop(0)
                if self._enter(link):
                    folders.append((link, rel))
        return found

    def _fail(self, path: Path, error: str) -> None:
        self.failures.append(DocumentFailure(source=path.as_posix(), stage=STAGE, error=error))

    def _scan(
        self,
        folder: Path,
        rel: Parts,
        folders: list[tuple[Path, Parts]],
        links: list[tuple[Path, Parts]],
    ) -> list[Path]:
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as exc:
            self._fail(folder, f"cannot read folder: {exc.strerror or exc}")
            return []
        files: list[Path] = []
        for entry in entries:
            path, parts = folder / entry.name, (*rel, entry.name)
            try:
                info = entry.stat()  # follows symlinks; cached for plain entries
            except OSError as exc:
                self._unresolved(path, parts, exc, entry.is_symlink())
                continue
            if stat.S_ISDIR(info.st_mode):
                if not self.enter(parts):
                    continue
                if entry.is_symlink():
                    if self._inside(path):
                        links.append((path, parts))
                elif self._enter(path):
                    folders.append((path, parts))
            elif self.accept(parts):
                if not stat.S_ISREG(info.st_mode):  # a FIFO would wait forever, a device never end
                    self._fail(path, f"{_special(info.st_mode)}: not read")
                elif not entry.is_symlink() or self._inside(path):
                    files.append(path)
            elif stat.S_ISREG(info.st_mode) and not any(p.startswith(".") for p in parts):
                self.left_out.append(path)
        return files

    def _inside(self, link: Path) -> bool:
        """Whether the symlink ``link`` may be followed; records it when it may not."""
        target = Path(os.path.realpath(link))
        if self.outside_links or target.is_relative_to(self._real_root):
            return True
        self._fail(
            link,
            f"symlink leads out of the input folder {self.root} (to {target}): not followed "
            "(ingest.follow_outside_symlinks: true reads it)",
        )
        return False

    def _unresolved(self, path: Path, parts: Parts, exc: OSError, is_link: bool) -> None:
        if not is_link:
            if self.accept(parts) or self.enter(parts):
                self._fail(path, f"cannot read: {exc.strerror or exc}")
        elif exc.errno == errno.ELOOP and (self.accept(parts) or self.enter(parts)):
            self._fail(
                path,
                "symlink loop: the link never reaches a file or folder (links lead back to each other)",
            )
        elif self.accept(parts):
            self._fail(path, f"broken symlink: its target {os.readlink(path)} does not exist")

    def _enter(self, folder: Path) -> bool:
        """Mark ``folder`` read; False (and a recorded failure) when it was read already."""
        info = folder.stat()
        key = (info.st_dev, info.st_ino)
        seen = self._read.get(key)
        if seen is None:
            self._read[key] = folder
            return True
        if seen in folder.parents:
            self._fail(
                folder,
                f"symlink loop: {folder} leads back to {seen}, a folder that contains it; "
                "not followed",
            )
        else:
            self._fail(
                folder,
                f"symlink {folder} leads to {seen}, which is read already; not followed "
                "(its files would be read twice under other ids)",
            )
        return False
