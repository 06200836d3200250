"""Your data in and out: import SemEval XML, CSV/JSONL/Parquet, PyABSA files and Hugging Face
datasets into a validated dataset folder in the benchmark schema; export one back to XML or CSV.

    from fsa_distill.data_import import ImportOptions, import_dataset, export_dataset

One module per family of formats (semeval, table, pyabsa, hf); records.py turns what they read
into benchmark records (labels mapped, offsets found or repaired, duplicates merged, every change
counted); importer.py detects formats and writes the folder atomically; export.py writes files.
"""

from fsa_distill.data_import.export import EXPORT_FORMATS, export_dataset
from fsa_distill.data_import.importer import FORMATS, ImportOptions, detect, import_dataset

__all__ = ["EXPORT_FORMATS", "FORMATS", "ImportOptions", "detect", "export_dataset", "import_dataset"]
