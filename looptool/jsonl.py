"""JSON Lines read/write for pydantic models, with atomic writes.

A write goes to a temporary file in the same folder, is fsynced and renamed over the
target, so a reader never sees a half-written file and a crash leaves the old file intact.
The file gets the usual permissions (``0666`` less the umask), not ``mkstemp``'s ``0600``.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar

from pydantic import BaseModel, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)


class DataFileError(ValueError):
    """A JSONL file could not be read; names the file and line."""


def _read_umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


#: The process's umask, read once at import (``os.umask`` can only be read by setting it,
#: which would race with threads creating files).
_UMASK = _read_umask()


@contextmanager
def atomic_writer(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temp file beside ``path``; on success fsync + rename it over ``path``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    encoding = None if "b" in mode else "utf-8"
    try:
        os.chmod(temp_name, 0o666 & ~_UMASK)
        with os.fdopen(handle, mode, encoding=encoding) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_writer(path) as stream:
        stream.write(text)


def write_json_atomic(path: str | Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def write_jsonl(path: str | Path, records: Iterable[BaseModel | dict[str, Any]]) -> int:
    """Write records atomically, one JSON object per line; returns the count."""
    count = 0
    with atomic_writer(path) as stream:
        for record in records:
            if isinstance(record, BaseModel):
                line = record.model_dump_json(exclude_none=False)
            else:
                line = json.dumps(record, ensure_ascii=False, default=str)
            stream.write(line + "\n")
            count += 1
    return count


def append_jsonl(path: str | Path, record: BaseModel | dict[str, Any]) -> None:
    """Append one record and fsync (for incremental, resumable outputs)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    line = (
        record.model_dump_json()
        if isinstance(record, BaseModel)
        else json.dumps(record, ensure_ascii=False, default=str)
    )
    with target.open("a", encoding="utf-8") as stream:
        stream.write(line + "\n")
        stream.flush()
        os.fsync(stream.fileno())


def read_text(path: str | Path) -> str:
    """A UTF-8 text file's content; a byte that is not UTF-8 is a :class:`DataFileError`
    naming the file, line and column."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        byte = data[error.start : error.start + 1].hex()
        raise DataFileError(
            f"{path}:{line}: byte 0x{byte} at column {column} is not UTF-8 (save the file as UTF-8)"
        ) from None
    return text


def read_text_lines(path: str | Path) -> list[str]:
    """The lines of a UTF-8 text file, ends kept, split as text-mode ``open`` splits them
    (newlines only, never U+2028 inside a JSON string); see :func:`read_text`."""
    return io.StringIO(read_text(path), newline=None).readlines()


def iter_jsonl_dicts(path: str | Path, *, skip_torn_tail: bool = False) -> Iterator[dict[str, Any]]:
    """Yield each line's object. ``skip_torn_tail`` tolerates an unterminated last line
    (left by a killed appender) instead of failing."""
    source = Path(path)
    if not source.exists():
        raise DataFileError(f"{source}: no such file")
    lines = read_text_lines(source)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            torn = number == len(lines) and not line.endswith("\n")
            if torn and skip_torn_tail:
                return
            raise DataFileError(f"{source}:{number}: invalid JSON: {error.msg}") from None
        if not isinstance(data, dict):
            raise DataFileError(f"{source}:{number}: expected a JSON object, got {type(data).__name__}")
        yield data


def id_needles(identifiers: Iterable[str]) -> list[bytes]:
    """The bytes a JSON writer puts in a file for each string: quoted, with non-ASCII as is
    (``ensure_ascii=False``, pydantic) and escaped (``json.dumps``' default)."""
    needles = {json.dumps(text, ensure_ascii=ascii_only).encode("utf-8")
               for text in identifiers for ascii_only in (False, True)}
    return sorted(needles)


#: Where earlier searches found a needle: (file, its size, needle) -> starts of the lines.
SearchMemo = dict[tuple[str, int, bytes], frozenset[int]]


def iter_jsonl_dicts_with(path: str | Path, needles: Iterable[bytes], *, skip_torn_tail: bool = False,
                          memo: SearchMemo | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` of each line holding one of ``needles``, in file order; the
    other lines are never decoded or parsed (a byte search, for reading a few records of a big
    file). A line that matches is checked as :func:`iter_jsonl_dicts` checks it. Searches that
    read the same files for growing sets of needles pass one ``memo`` to search each needle once."""
    source = Path(path)
    if not source.exists():
        raise DataFileError(f"{source}: no such file")
    data = source.read_bytes()
    starts: set[int] = set()
    for needle in needles:
        key = (str(source), len(data), needle)
        if memo is not None and key in memo:
            starts |= memo[key]
            continue
        hits: set[int] = set()
        found = data.find(needle)
        while found != -1:
            hits.add(data.rfind(b"\n", 0, found) + 1)
            end = data.find(b"\n", found)
            found = -1 if end == -1 else data.find(needle, end)
        if memo is not None:
            memo[key] = frozenset(hits)
        starts |= hits
    number, counted = 1, 0
    for start in sorted(starts):
        number += data.count(b"\n", counted, start)
        counted = start
        end = data.find(b"\n", start)
        torn = end == -1
        try:
            line = data[start:len(data) if torn else end].decode("utf-8")
        except UnicodeDecodeError:
            raise DataFileError(f"{source}:{number}: a byte is not UTF-8 (save the file as UTF-8)") from None
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            if torn and skip_torn_tail:
                return
            raise DataFileError(f"{source}:{number}: invalid JSON: {error.msg}") from None
        if not isinstance(record, dict):
            raise DataFileError(f"{source}:{number}: expected a JSON object, got {type(record).__name__}")
        yield number, record


def read_jsonl(path: str | Path, model: type[ModelT], *, skip_torn_tail: bool = False) -> list[ModelT]:
    """Read and validate every line as ``model``; errors name file, line and field."""
    records: list[ModelT] = []
    for number, data in enumerate(iter_jsonl_dicts(path, skip_torn_tail=skip_torn_tail), start=1):
        try:
            records.append(model.model_validate(data))
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(part) for part in first["loc"])
            raise DataFileError(
                f"{path}: record {number}: field '{field}': {first['msg']}"
            ) from None
    return records
