"""Hugging Face `datasets`: a folder written by `save_to_disk`, a folder of data files, or a hub id.

Rows go through the table reader (table.py), so the same column options apply. A DatasetDict
gives its splits: `train`, `validation`/`valid`/`dev` as dev, `test`, `hard_test`.
"""

from __future__ import annotations

import os
from pathlib import Path

from fsa_distill import limits
from fsa_distill.errors import FsaError

SPLIT_NAMES = {"train": "train", "validation": "dev", "valid": "dev", "dev": "dev", "test": "test",
               "hard_test": "hard_test"}


def is_saved_dataset(path: Path) -> bool:
    return path.is_dir() and any((path / n).exists() for n in ("dataset_dict.json", "state.json"))


def load(source: str):
    """A Dataset or DatasetDict from a local folder or a hub id."""
    try:
        import datasets
    except ImportError:
        raise FsaError("reading Hugging Face datasets needs the `datasets` package (pip install datasets)") from None
    from fsa_distill.data_import.decoded import Budget, check_arrow_file, check_folder

    path = Path(source)
    try:
        if is_saved_dataset(path):
            budget = Budget(source)
            for state in [path / "state.json", *path.glob("*/state.json")]:
                for arrow in sorted(state.parent.glob("*.arrow")) if state.is_file() else []:
                    check_arrow_file(arrow, budget)  # before load_from_disk decompresses anything
            return datasets.load_from_disk(str(path))
        if path.is_dir():
            check_folder(path)  # before datasets converts the files into its cache
        return datasets.load_dataset(str(path) if path.is_dir() else source)
    except FsaError:
        raise
    except Exception as e:  # noqa: BLE001 - datasets raises many types (FileNotFoundError, ConnectionError, ...)
        offline = not path.exists() and os.environ.get("HF_HUB_OFFLINE") == "1"
        hint = " (a hub id needs network access, and HF_HUB_OFFLINE=1 is set)" if offline else ""
        first = str(e).splitlines()[0] if str(e) else ""
        raise FsaError(f"{source}: could not load as a Hugging Face dataset "
                       f"({type(e).__name__}: {limits.echo(first)}){hint}") from None


def splits(obj, source: str, default_split: str) -> dict[str, list[tuple[str, dict]]]:
    """{our split name: [(where, row)]}. A single Dataset is `default_split`."""
    import datasets

    if isinstance(obj, datasets.Dataset):
        parts = {default_split: obj}
    else:
        parts = {}
        for name, ds in obj.items():
            ours = SPLIT_NAMES.get(name)
            if ours is None:
                raise FsaError(f"{source}: split {name!r} is not one of {', '.join(SPLIT_NAMES)}")
            parts[ours] = ds
    from fsa_distill.data_import.decoded import count_table

    for split, ds in parts.items():
        count_table(ds.data.table, f"{source} [{split}]")  # mapped: counted without being read
    return {split: [(f"{source} [{split}]: row {i}", row) for i, row in enumerate(ds)] for split, ds in parts.items()}
