"""What binary and compressed imports decode to, bounded by limits.MAX_DECODED_BYTES.

A file's size says little about what it holds: Parquet stores a repeated string once (dictionary
encoding) and compresses its pages, so a 3 kB file can hold 2 GB of text; Arrow IPC buffers may be
compressed; gzip shrinks repetition a thousandfold. So every such reader counts what it decodes,
each cell's bytes plus limits.DECODED_CELL_BYTES, batch by batch, before the cells become Python
values (or `datasets` writes them to its cache), and stops with one line naming the file and row:

- Parquet: the pages' uncompressed sizes (file metadata) first, then batches of BATCH_ROWS rows
  read with every string column kept dictionary-encoded, so a batch is counted from the
  dictionary's lengths without being expanded, and only then turned into rows.
- A Hugging Face folder written by `save_to_disk`: its Arrow files are checked for compressed
  buffers (refused: `datasets` never writes them, and reading one decompresses it whole) before
  `load_from_disk` maps them; the mapped table is then counted batch by batch (`count_table`).
- A folder of data files for `datasets.load_dataset`: each file counted the same way (Parquet,
  Arrow; gzip, bz2 and xz streamed through without keeping the output; other archives refused)
  before `datasets` converts them into its cache.
"""

from __future__ import annotations

import struct
from pathlib import Path

from fsa_distill import limits
from fsa_distill.errors import FsaError

BATCH_ROWS = 1024
STREAMED = {".gz": "gzip", ".bz2": "bz2", ".xz": "lzma"}  # decompressed and counted, not kept
ARCHIVES = (".zip", ".zst", ".lz4", ".tar", ".tgz", ".7z", ".rar")
MAX_FOLDER_FILES = 1000


class Budget:
    """The decoded bytes of one source, refused past limits.MAX_DECODED_BYTES."""

    def __init__(self, what: str):
        self.what, self.used = what, 0

    def add(self, nbytes: int, where: str) -> None:
        self.used += nbytes
        if self.used > limits.MAX_DECODED_BYTES:
            raise FsaError(f"{self.what}: decodes to more than limits.MAX_DECODED_BYTES={limits.MAX_DECODED_BYTES} "
                           f"bytes ({where}; cells' bytes + {limits.DECODED_CELL_BYTES} per cell); "
                           "raise FSA_DISTILL_MAX_DECODED_BYTES to read it")


def decoded_bytes(arr) -> int:
    """Bytes the cells of an Arrow array hold once decoded (dictionaries counted as expanded,
    without expanding them), plus limits.DECODED_CELL_BYTES per cell."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t, cells = arr.type, len(arr) * limits.DECODED_CELL_BYTES
    if pa.types.is_dictionary(t):
        d = arr.dictionary
        if pa.types.is_string(d.type) or pa.types.is_binary(d.type) or pa.types.is_large_string(d.type) \
                or pa.types.is_large_binary(d.type):
            return cells + (pc.sum(pc.take(pc.binary_length(d), arr.indices)).as_py() or 0)
        return cells + len(arr) * (d.nbytes // max(1, len(d)) + 1)
    if pa.types.is_struct(t):
        return cells + sum(decoded_bytes(f) for f in arr.flatten())
    if pa.types.is_map(t):
        return cells + decoded_bytes(arr.keys) + decoded_bytes(arr.items)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return cells + decoded_bytes(arr.flatten())
    return cells + arr.nbytes


def count_batch(batch, budget: Budget, where: str) -> None:
    budget.add(sum(decoded_bytes(c) for c in batch.columns), where)


def count_table(table, what: str) -> None:
    """Count a (memory-mapped) Arrow table batch by batch: nothing is copied."""
    budget, n = Budget(what), 0
    for batch in table.to_batches(max_chunksize=BATCH_ROWS):
        n += batch.num_rows
        count_batch(batch, budget, f"by row {n}")


# ------------------------------------------------------------------ Parquet
def _parquet_file(path: Path):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise FsaError("reading Parquet needs pyarrow (pip install pyarrow)") from None
    if not path.is_file():
        raise FsaError(f"{path}: " + ("not a regular file" if path.exists() else "file not found"))
    if path.stat().st_size > limits.MAX_FILE_BYTES:
        raise FsaError(f"{path}: more than limits.MAX_FILE_BYTES={limits.MAX_FILE_BYTES} bytes")
    try:
        f = pq.ParquetFile(path)
        md = f.metadata
        strings = sorted({md.schema.column(i).path for i in range(md.num_columns)
                          if md.schema.column(i).physical_type == "BYTE_ARRAY"})
        pages = sum(md.row_group(g).column(c).total_uncompressed_size
                    for g in range(md.num_row_groups) for c in range(md.num_columns))
        if pages > limits.MAX_DECODED_BYTES:
            raise FsaError(f"{path}: its pages decompress to {pages} bytes, more than "
                           f"limits.MAX_DECODED_BYTES={limits.MAX_DECODED_BYTES} (raise FSA_DISTILL_MAX_DECODED_BYTES)")
        return pq.ParquetFile(path, read_dictionary=strings)
    except FsaError:
        raise
    except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a damaged file
        raise FsaError(f"{path}: not a readable Parquet file ({type(e).__name__})") from None


def _parquet_batches(path: Path, f, budget: Budget):
    n = 0
    try:
        for batch in f.iter_batches(batch_size=BATCH_ROWS):
            n += batch.num_rows
            count_batch(batch, budget, f"by row {n}")
            yield n - batch.num_rows, batch
    except FsaError:
        raise
    except Exception as e:  # noqa: BLE001
        raise FsaError(f"{path}: row {n}: not a readable Parquet file ({type(e).__name__})") from None


def parquet_rows(path: Path) -> tuple[list[str], list[tuple[str, dict]]]:
    """(column names, [(where, row)]) of a Parquet file, its decoded size bounded."""
    f = _parquet_file(path)
    rows = []
    for first, batch in _parquet_batches(path, f, Budget(str(path))):
        rows.extend((f"{path}: row {first + k}", r) for k, r in enumerate(batch.to_pylist()))
    return f.schema_arrow.names, rows


# ------------------------------------------------------------------ Arrow IPC (Hugging Face)
def _u32(b: bytes, p: int) -> int:
    return struct.unpack_from("<I", b, p)[0]


def _field(b: bytes, table: int, i: int) -> int | None:
    """Where field i of the flatbuffer table at `table` is, or None when it is absent."""
    vtable = table - struct.unpack_from("<i", b, table)[0]
    if 4 + 2 * i + 2 > struct.unpack_from("<H", b, vtable)[0]:
        return None
    off = struct.unpack_from("<H", b, vtable + 4 + 2 * i)[0]
    return table + off if off else None


def _compressed(metadata: bytes) -> bool:
    """Whether an IPC message (Arrow's Message flatbuffer) is a record or dictionary batch with
    compressed buffers (RecordBatch field 3, `compression`)."""
    root = _u32(metadata, 0)
    kind, header = _field(metadata, root, 1), _field(metadata, root, 2)
    if kind is None or header is None:
        return False
    table = header + _u32(metadata, header)
    if metadata[kind] == 2:  # DictionaryBatch: its `data` (field 1) is a RecordBatch
        data = _field(metadata, table, 1)
        if data is None:
            return False
        table = data + _u32(metadata, data)
    elif metadata[kind] != 3:  # not a RecordBatch
        return False
    return _field(metadata, table, 3) is not None


def check_arrow_file(path: Path, budget: Budget) -> None:
    """An Arrow IPC stream (what `save_to_disk` writes): no compressed buffers, and its bodies
    (mapped, not read) counted."""
    import pyarrow as pa

    try:
        with pa.memory_map(str(path)) as source:
            for k, msg in enumerate(pa.ipc.MessageReader.open_stream(source)):
                if _compressed(msg.metadata.to_pybytes()):
                    raise FsaError(f"{path}: message {k} has compressed Arrow buffers, which would be "
                                   "decompressed whole (datasets never writes them): re-save it with save_to_disk")
                budget.add(msg.body.size if msg.body is not None else 0, f"message {k}")
    except FsaError:
        raise
    except Exception as e:  # noqa: BLE001 - a damaged file
        raise FsaError(f"{path}: not a readable Arrow file ({type(e).__name__})") from None


def _streamed(path: Path, module: str, budget: Budget) -> None:
    import importlib

    try:
        with importlib.import_module(module).open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                budget.add(len(chunk), f"{path.name}, decompressed")
    except FsaError:
        raise
    except Exception as e:  # noqa: BLE001 - EOFError, OSError, lzma.LZMAError, ...
        raise FsaError(f"{path}: could not decompress ({type(e).__name__})") from None


def check_folder(folder: Path) -> None:
    """Every file under a Hugging Face folder counted before `datasets` reads it."""
    import itertools

    files = [p for p in itertools.islice(folder.rglob("*"), 4 * MAX_FOLDER_FILES)
             if p.is_file() and ".cache" not in p.parts]
    if len(files) > MAX_FOLDER_FILES:
        raise FsaError(f"{folder}: more than {MAX_FOLDER_FILES} files: not a dataset folder")
    budget = Budget(str(folder))
    for p in files:
        suffix = p.suffix.lower()
        if suffix in ARCHIVES:
            raise FsaError(f"{p}: archives ({suffix}) are not read in a dataset folder: unpack it first")
        if suffix in STREAMED:
            _streamed(p, STREAMED[suffix], budget)
        elif suffix == ".parquet":
            for _ in _parquet_batches(p, _parquet_file(p), budget):
                pass
        elif suffix == ".arrow":
            check_arrow_file(p, budget)
        else:
            budget.add(p.stat().st_size, p.name)
