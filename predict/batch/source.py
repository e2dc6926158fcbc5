"""Where the photos come from: folders, path-list files and globs, streamed.

``iter_photos(sources)`` yields one absolute path per photo, lazily: a folder
of ten million files or a list of ten million paths never sits in memory.
What is kept is one folder's entries at a time (sorted, so runs are
repeatable) and the identity of every folder visited, so that a symlink loop
(``a/b -> ..``) or two links to one folder are walked once.

A SOURCE is, in this order:

- a folder: walked recursively, following symlinks, keeping files whose
  extension is a photo's (``PHOTO_EXTENSIONS``, case-insensitive);
- a file with a photo's extension: that photo;
- any other file (``.txt``, ``.lst`` ...), or ``-`` for standard input: a
  list of paths, one per line (blank lines and ``#`` comments skipped;
  relative paths are relative to the list's folder).  Listed paths are
  taken as they are, whatever their extension, and need not exist: a
  missing one is tagged as failed, which is what a stale list deserves;
- a pattern with ``*``, ``?`` or ``[`` (``photos/**/*.jpg``): the matching
  files, expanded lazily by ``glob.iglob`` (``**`` is recursive).

Anything else (a path that does not exist and is no pattern) raises
SourceError before any work starts.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> (d / "a.jpg").write_bytes(b""); (d / "notes.md").write_bytes(b"")
    0
    0
    >>> [os.path.basename(p) for p in iter_photos([str(d)])]
    ['a.jpg']
"""

import glob
import os
import stat
import sys

from predict.errors import PredictError

__all__ = ["PHOTO_EXTENSIONS", "SourceError", "check_sources", "iter_photos"]

# What Pillow decodes for predict (predict.image.DECODED_FORMATS), by file name.
PHOTO_EXTENSIONS = frozenset({
    ".jpg", ".jpeg", ".jpe", ".jfif", ".mpo", ".png", ".webp", ".gif", ".bmp", ".dib",
    ".tif", ".tiff", ".ppm", ".pgm", ".pbm", ".pnm", ".avif",
})

_GLOB_CHARS = frozenset("*?[")


class SourceError(PredictError, ValueError):
    """A SOURCE argument is neither a folder, a file, a path list nor a pattern."""


def _is_photo_name(name):
    return os.path.splitext(name)[1].lower() in PHOTO_EXTENSIONS


def _kind(source):
    """'stdin', 'folder', 'photo', 'list' or 'glob' for one SOURCE; raises SourceError."""
    if source == "-":
        return "stdin"
    if os.path.isdir(source):
        return "folder"
    if os.path.isfile(source):
        return "photo" if _is_photo_name(source) else "list"
    if _GLOB_CHARS & set(source):
        return "glob"
    if os.path.lexists(source):
        raise SourceError(f"{source}: neither a folder nor a file (a broken link or a device?)")
    raise SourceError(f"{source}: no such folder, file or pattern")


def check_sources(sources):
    """Checks every SOURCE up front, so a typo fails before hours of work.

    Returns the list of (kind, source) pairs; raises SourceError.

    >>> check_sources(["-"])
    [('stdin', '-')]
    """
    if not sources:
        raise SourceError("no SOURCE given: name a folder, a file listing paths, or a pattern")
    return [(_kind(s), s) for s in sources]


def _walk(top):
    """Photos under a folder: each folder's photos in name order, then its subfolders.

    Folders are followed through symlinks but visited once each, by
    (device, inode): that is what survives ``loop -> ..``.  Symlinked folders
    wait until the real tree is walked, so a photo is named by its real
    path when it has one under ``top``.  A folder that cannot be read is
    skipped with a warning on stderr: it has no photos we could tag, and the
    run goes on.
    """
    seen = set()
    stack = [os.path.abspath(top)]
    links = []
    while stack or links:
        folder = stack.pop() if stack else links.pop(0)
        try:
            info = os.stat(folder)
        except OSError as e:
            print(f"predict: warning: skipping {folder}: {e.strerror}", file=sys.stderr)
            continue
        key = (info.st_dev, info.st_ino)
        if key in seen:
            continue
        seen.add(key)
        try:
            with os.scandir(folder) as it:
                entries = sorted(((e.name, e) for e in it), key=lambda pair: pair[0])
        except OSError as e:
            print(f"predict: warning: skipping {folder}: {e.strerror}", file=sys.stderr)
            continue
        subfolders = []
        for name, entry in entries:
            try:
                is_dir = entry.is_dir()  # follows symlinks
                is_link = is_dir and entry.is_symlink()
            except OSError:
                is_dir = is_link = False
            if is_link:
                links.append(entry.path)
            elif is_dir:
                subfolders.append(entry.path)
            elif _is_photo_name(name):
                yield entry.path
        # Reversed onto the stack, so subfolders come out in name order.
        stack.extend(reversed(subfolders))


def _read_list(lines, folder):
    for line in lines:
        path = line.rstrip("\r\n")
        if not path.strip() or path.lstrip().startswith("#"):
            continue
        yield os.path.normpath(os.path.join(folder, path))


def _list_file(source):
    folder = os.path.dirname(os.path.abspath(source))
    with open(source, encoding="utf-8", errors="surrogateescape") as f:
        yield from _read_list(f, folder)


def _glob(pattern):
    for path in glob.iglob(pattern, recursive=True):
        try:
            if stat.S_ISREG(os.stat(path).st_mode):
                yield os.path.abspath(path)
        except OSError:
            continue


def iter_photos(sources):
    """Yields the absolute path of every photo named by ``sources`` (a list of SOURCE strings).

    See the module docstring for what a SOURCE may be.  Paths come out in
    a stable order (sources in order, folders walked in name order), and a
    path may come out twice if two sources name it; the sink keeps one row.

    >>> list(iter_photos(["/no/such/*.jpg"]))
    []
    """
    for kind, source in check_sources(sources):
        if kind == "folder":
            yield from _walk(source)
        elif kind == "photo":
            yield os.path.abspath(source)
        elif kind == "list":
            yield from _list_file(source)
        elif kind == "stdin":
            yield from _read_list(sys.stdin, os.getcwd())
        else:
            yield from _glob(source)
