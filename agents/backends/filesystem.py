"""The ``filesystem`` backend: a file system that lives entirely in the backend's own state.

The state is two plain collections — ``files`` (virtual absolute path -> text) and
``directories`` (virtual absolute paths) — plus the working directory. Paths are normalised by
pure string processing: ``\\`` is a separator, ``.`` and empty parts vanish, ``..`` climbs
within the virtual tree and climbing above ``/`` is refused, an absolute path (``/etc/passwd``,
``C:\\Windows``) names a place inside the virtual tree. There are no links, no ``~``
expansion, and this module imports neither :mod:`os` nor :mod:`pathlib` and never calls
``open``: nothing a model writes can reach the host's disk.

Each instance is bounded: at most :data:`MAX_NODES` files and directories,
:data:`MAX_TOTAL_CHARS` characters of content, :data:`MAX_PATH_CHARS` per path (copies and
moves included), so one call's work is bounded too. A call that fails changes nothing.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from looptool.agents.backends.base import ToolBackend, ToolError
from looptool.agents.backends.registry import register_backend

MAX_FILE_CHARS = 1_000_000
MAX_TOTAL_CHARS = 10_000_000
MAX_PATH_CHARS = 1024
MAX_NODES = 10_000
"""Most files plus directories (the root included) that tool calls may create."""
MAX_RESULTS = 200


class Entry(BaseModel):
    name: str
    kind: str  # "file" or "directory"
    size: int


class Match(BaseModel):
    path: str
    line_number: int
    line: str


class WordCount(BaseModel):
    path: str
    lines: int
    words: int
    characters: int


def _parts(path: str) -> list[str]:
    return [part for part in path.replace("\\", "/").split("/") if part not in ("", ".")]


def normalize_path(path: str, cwd: str = "/") -> str:
    """The virtual absolute path of ``path`` seen from ``cwd`` (pure string processing).

    Raises :class:`ToolError` for empty paths, NUL characters, over-long paths, and ``..``
    that would climb above the virtual root.
    """
    if not isinstance(path, str) or not path.strip():
        raise ToolError("path is empty")
    if "\x00" in path:
        raise ToolError("path contains a NUL character")
    if len(path) > MAX_PATH_CHARS:
        raise ToolError(f"path is longer than {MAX_PATH_CHARS} characters")
    text = path.replace("\\", "/")
    is_absolute = text.startswith("/") or (len(text) >= 2 and text[1] == ":")
    if len(text) >= 2 and text[1] == ":":  # a drive letter names a folder in the virtual root
        text = "/" + text[0] + text[2:]
    stack: list[str] = [] if is_absolute else _parts(cwd)
    for part in _parts(text):
        if part == "..":
            if not stack:
                raise ToolError(f"path {path!r} goes above the root directory")
            stack.pop()
        else:
            stack.append(part)
    return _checked_length("/" + "/".join(stack))


def _checked_length(path: str) -> str:
    """``path`` itself, or a :class:`ToolError` when it is longer than :data:`MAX_PATH_CHARS`."""
    if len(path) > MAX_PATH_CHARS:
        raise ToolError(f"path {path[:40]}... would be longer than {MAX_PATH_CHARS} characters")
    return path


def _parent(path: str) -> str:
    return "/" + "/".join(_parts(path)[:-1])


def _basename(path: str) -> str:
    parts = _parts(path)
    return parts[-1] if parts else "/"


def _is_child(path: str, prefix: str) -> bool:
    """``path`` sits directly in the folder whose path plus ``/`` is ``prefix``."""
    return path.startswith(prefix) and "/" not in path[len(prefix):]


def _is_under(path: str, folder: str) -> bool:
    return folder == "/" or path == folder or path.startswith(folder + "/")


@register_backend("filesystem")
class FileSystem(ToolBackend):
    """An in-memory file system with a working directory (no access to the real disk)."""

    def __init__(self) -> None:
        self.files: dict[str, str] = {}
        self.directories: list[str] = ["/"]
        self.cwd: str = "/"

    # --- state -----------------------------------------------------------------------------

    def load_scenario(self, scenario: dict[str, Any]) -> None:
        """Accepts ``files`` (path -> text), ``directories`` (paths) and ``cwd``.

        Paths are normalised like tool arguments; parent folders are created.
        """
        unknown = sorted(set(scenario) - {"files", "directories", "cwd"})
        if unknown:
            raise ValueError(f"filesystem scenario: unknown key(s) {unknown}; "
                             "known: ['cwd', 'directories', 'files']")
        self.files = {}
        self.directories = ["/"]
        self.cwd = "/"
        for folder in scenario.get("directories", []):
            self._make_dirs(normalize_path(str(folder)))
        for path, content in dict(scenario.get("files", {})).items():
            target = normalize_path(str(path))
            self._make_dirs(_parent(target))
            self.files[target] = str(content)
        cwd = normalize_path(str(scenario.get("cwd", "/")))
        self._make_dirs(cwd)
        self.cwd = cwd

    def snapshot(self) -> dict[str, Any]:
        return {"files": dict(sorted(self.files.items())),
                "directories": sorted(self.directories), "cwd": self.cwd}

    # --- helpers ---------------------------------------------------------------------------

    def _resolve(self, path: str) -> str:
        return normalize_path(path, self.cwd)

    def _is_dir(self, path: str) -> bool:
        return path in self.directories

    def _missing_dirs(self, path: str) -> list[str]:
        """The folders on the way to ``path`` that do not exist yet (refused if one is a file)."""
        parts = _parts(path)
        existing = set(self.directories)
        missing: list[str] = []
        for index in range(len(parts) + 1):
            folder = "/" + "/".join(parts[:index])
            if folder in self.files:
                raise ToolError(f"{folder} is a file, not a directory")
            if folder not in existing:
                missing.append(folder)
        return missing

    def _make_dirs(self, path: str) -> None:
        self.directories.extend(self._missing_dirs(path))

    def _check_nodes(self, extra: int) -> None:
        if len(self.files) + len(self.directories) + extra > MAX_NODES:
            raise ToolError(f"the file system is full (at most {MAX_NODES} files and directories)")

    def _require_dir(self, path: str) -> None:
        if not self._is_dir(path):
            if path in self.files:
                raise ToolError(f"{path} is a file, not a directory")
            raise ToolError(f"no such directory: {path}")

    def _require_file(self, path: str) -> str:
        if path not in self.files:
            if self._is_dir(path):
                raise ToolError(f"{path} is a directory, not a file")
            raise ToolError(f"no such file: {path}")
        return self.files[path]

    def _check_space(self, extra: int, *, file_chars: int = 0) -> None:
        """Refuse ``extra`` more characters in all, or a file of ``file_chars`` characters."""
        if file_chars > MAX_FILE_CHARS:
            raise ToolError(f"a file may hold at most {MAX_FILE_CHARS} characters")
        if sum(map(len, self.files.values())) + extra > MAX_TOTAL_CHARS:
            raise ToolError(f"the file system is full (at most {MAX_TOTAL_CHARS} characters)")

    # --- tools -----------------------------------------------------------------------------

    def pwd(self) -> str:
        """Return the current working directory."""
        return self.cwd

    def cd(self, path: str) -> str:
        """Change the current working directory and return the new one.

        Args:
            path: Directory to move to, absolute or relative ("..", "docs/reports").
        """
        target = self._resolve(path)
        self._require_dir(target)
        self.cwd = target
        return target

    def ls(self, path: str = ".", show_hidden: bool = False) -> list[Entry]:
        """List the entries of a directory.

        Args:
            path: Directory to list; the working directory when omitted.
            show_hidden: Also list names starting with a dot.
        """
        target = self._resolve(path)
        if target in self.files:
            return [Entry(name=_basename(target), kind="file", size=len(self.files[target]))]
        self._require_dir(target)
        entries: list[Entry] = []
        prefix = target.rstrip("/") + "/"
        for folder in sorted(self.directories):
            if folder != target and _is_child(folder, prefix):
                entries.append(Entry(name=_basename(folder), kind="directory", size=0))
        for file_path, content in sorted(self.files.items()):
            if _is_child(file_path, prefix):
                entries.append(Entry(name=_basename(file_path), kind="file", size=len(content)))
        if not show_hidden:
            entries = [entry for entry in entries if not entry.name.startswith(".")]
        return entries

    def mkdir(self, path: str, parents: bool = False) -> str:
        """Create a directory and return its absolute path.

        Args:
            path: The directory to create.
            parents: Also create missing parent directories (no error if it exists).
        """
        target = self._resolve(path)
        if target in self.files:
            raise ToolError(f"{target} already exists as a file")
        if self._is_dir(target):
            if parents:
                return target
            raise ToolError(f"directory already exists: {target}")
        if not parents:
            self._require_dir(_parent(target))
        missing = self._missing_dirs(target)
        self._check_nodes(len(missing))
        self.directories.extend(missing)
        return target

    def write_file(self, path: str, content: str, append: bool = False) -> WordCount:
        """Write text to a file, creating it if needed.

        Args:
            path: The file to write; its directory must exist.
            content: The text to write.
            append: Add to the end of the file instead of replacing its content.
        """
        target = self._resolve(path)
        if self._is_dir(target):
            raise ToolError(f"{target} is a directory, not a file")
        self._require_dir(_parent(target))
        old_content = self.files.get(target)
        self._check_space((len(content) if append else len(content) - len(old_content or "")),
                          file_chars=len(content) + (len(old_content or "") if append else 0))
        if old_content is None:
            self._check_nodes(1)
        self.files[target] = (old_content or "") + content if append else content
        return _count(target, self.files[target])

    def read_file(self, path: str) -> str:
        """Return the text of a file.

        Args:
            path: The file to read.
        """
        return self._require_file(self._resolve(path))

    def remove(self, path: str, recursive: bool = False) -> list[str]:
        """Delete a file or directory and return the removed paths.

        Args:
            path: What to delete.
            recursive: Required to delete a directory that is not empty.
        """
        target = self._resolve(path)
        if target == "/":
            raise ToolError("cannot remove the root directory")
        if target in self.files:
            del self.files[target]
            return [target]
        self._require_dir(target)
        inside_files = [item for item in self.files if _is_under(item, target)]
        inside_dirs = [item for item in self.directories if _is_under(item, target)]
        if (inside_files or len(inside_dirs) > 1) and not recursive:
            raise ToolError(f"directory not empty: {target} (use recursive=true)")
        for item in inside_files:
            del self.files[item]
        removed = set(inside_dirs)
        self.directories = [item for item in self.directories if item not in removed]
        if _is_under(self.cwd, target):
            self.cwd = _parent(target)
        return sorted(inside_files + inside_dirs)

    def move(self, source: str, destination: str) -> str:
        """Move or rename a file or directory and return its new path.

        Args:
            source: What to move.
            destination: The new path, or an existing directory to move it into.
        """
        return self._transfer(source, destination, keep_source=False)

    def copy(self, source: str, destination: str) -> str:
        """Copy a file or directory and return the path of the copy.

        Args:
            source: What to copy.
            destination: The new path, or an existing directory to copy it into.
        """
        return self._transfer(source, destination, keep_source=True)

    def _transfer(self, source: str, destination: str, *, keep_source: bool) -> str:
        src = self._resolve(source)
        dst = self._resolve(destination)
        if src == "/":
            raise ToolError("cannot move or copy the root directory")
        if self._is_dir(dst):
            dst = normalize_path(_basename(src), dst)
        if dst == src:
            raise ToolError(f"source and destination are the same: {src}")
        if dst in self.files or self._is_dir(dst):
            raise ToolError(f"destination already exists: {dst}")
        self._require_dir(_parent(dst))
        if src in self.files:
            if keep_source:
                self._check_space(len(self.files[src]))
                self._check_nodes(1)
            self.files[dst] = self.files[src]
            if not keep_source:
                del self.files[src]
            return dst
        self._require_dir(src)
        if _is_under(dst, src):
            raise ToolError(f"cannot put {src} inside itself")
        moved_files = {item: content for item, content in self.files.items() if _is_under(item, src)}
        moved_dirs = [item for item in self.directories if _is_under(item, src)]
        # every check before the first change, so a refused call leaves the state as it was
        new_files = {_checked_length(dst + item[len(src):]): content for item, content in moved_files.items()}
        new_dirs = [_checked_length(dst + item[len(src):]) for item in moved_dirs]
        if keep_source:
            self._check_space(sum(map(len, moved_files.values())))
            self._check_nodes(len(new_files) + len(new_dirs))
        if not keep_source:
            for item in moved_files:
                del self.files[item]
            gone = set(moved_dirs)
            self.directories = [item for item in self.directories if item not in gone]
            if _is_under(self.cwd, src):
                self.cwd = dst + self.cwd[len(src):]
        self.files.update(new_files)
        self.directories.extend(new_dirs)
        return dst

    def find(self, name_contains: str, path: str = ".") -> list[str]:
        """Find files and directories whose name contains a text, below a directory.

        Args:
            name_contains: Text the name must contain (case-sensitive).
            path: Directory to search; the working directory when omitted.
        """
        root = self._resolve(path)
        self._require_dir(root)
        found = [item for item in sorted([*self.directories, *self.files])
                 if item != root and _is_under(item, root) and name_contains in _basename(item)]
        return found[:MAX_RESULTS]

    def grep(self, text: str, path: str) -> list[Match]:
        """Find the lines of a file (or of all files below a directory) that contain a text.

        Args:
            text: The text to look for (plain text, case-sensitive).
            path: A file, or a directory to search recursively.
        """
        if not text:
            raise ToolError("text is empty")
        target = self._resolve(path)
        if target in self.files:
            targets = [target]
        else:
            self._require_dir(target)
            targets = sorted(item for item in self.files if _is_under(item, target))
        matches: list[Match] = []
        for file_path in targets:
            for number, line in enumerate(self.files[file_path].splitlines(), start=1):
                if text in line:
                    matches.append(Match(path=file_path, line_number=number, line=line))
                    if len(matches) >= MAX_RESULTS:
                        return matches
        return matches

    def wc(self, path: str) -> WordCount:
        """Count the lines, words and characters of a file.

        Args:
            path: The file to count.
        """
        target = self._resolve(path)
        return _count(target, self._require_file(target))


def _count(path: str, content: str) -> WordCount:
    return WordCount(path=path, lines=len(content.splitlines()), words=len(content.split()),
                     characters=len(content))
