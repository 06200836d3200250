"""Issue 24, `data import` / `data export` side: --force never destroys user data; decoded sizes
bounded (decompression bombs in every binary format); huge integers and deep nesting in cells; no
silent change (duplicates, unterminated quotes, ATEPC conflicts, control characters); DTDs and
entities refused by parsing; PyABSA APC lines with two $T$ imported with the repair counted."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from helpers import SRC, assert_one_line_error, cli

from fsa_distill import limits

CSV = "id,text,aspect,polarity\nr1,nice tea,tea,pos\nr2,bad cake,cake,neg\nr3,fine soup,soup,pos\n"
BIG = "1" * 5000  # more digits than Python converts (4,300)
DEEP = "[" * 3000 + "]" * 3000


def imp(capsys, *argv):
    return cli(capsys, "data", "import", *argv)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def dataset_json(folder: Path) -> dict:
    return json.loads((folder / "dataset.json").read_text(encoding="utf-8"))


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# ------------------------------------------------------------------ class 2: --force
def test_force_never_replaces_the_folder_holding_an_input(tmp_path, capsys):
    src = write(tmp_path / "out" / "reviews.csv", CSV)
    for output in (tmp_path / "out", tmp_path, src):
        rc, _, err = imp(capsys, "--train", src, "--test", src, "--output", output, "--force")
        assert_one_line_error(rc, err, "holds the input")
        assert src.read_text() == CSV
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["reviews.csv"]


def test_output_inside_an_input_folder_is_refused(tmp_path, capsys):
    folder = tmp_path / "hf"
    write(folder / "train.csv", CSV)
    rc, _, err = imp(capsys, "--format", "hf", "--train", folder, "--output", folder / "ds", "--force")
    assert_one_line_error(rc, err, "holds the input")
    assert not (folder / "ds").exists()


def test_force_never_replaces_a_regular_file_nor_leaves_a_hidden_copy(tmp_path, capsys):
    src = write(tmp_path / "r.csv", CSV)
    victim = write(tmp_path / "notes.txt", "mine")
    rc, _, err = imp(capsys, "--train", src, "--test", src, "--output", victim, "--force")
    assert_one_line_error(rc, err, "notes.txt", "is a file")
    assert victim.read_text() == "mine" and hidden(tmp_path) == []


def test_force_replaces_only_a_folder_data_import_wrote(tmp_path, capsys):
    src = write(tmp_path / "r.csv", CSV)
    mine = tmp_path / "mine"
    write(mine / "train.json", "[]")  # looks like a dataset, but data import did not write it
    rc, _, err = imp(capsys, "--train", src, "--test", src, "--output", mine, "--force")
    assert_one_line_error(rc, err, "has no dataset.json")
    assert (mine / "train.json").read_text() == "[]"

    ds = tmp_path / "ds"
    assert imp(capsys, "--train", src, "--test", src, "--output", ds)[0] == 0
    write(ds / "notes.txt", "my notes")  # a file of the user's in an imported folder
    rc, _, err = imp(capsys, "--train", src, "--test", src, "--output", ds, "--force")
    assert_one_line_error(rc, err, "notes.txt", "did not write")
    assert (ds / "notes.txt").read_text() == "my notes"

    (ds / "notes.txt").unlink()
    assert imp(capsys, "--train", src, "--test", src, "--output", ds, "--force")[0] == 0
    assert (ds / "dataset.json").is_file() and hidden(tmp_path) == []


def test_an_empty_folder_is_replaced_with_force_only(tmp_path, capsys):
    src = write(tmp_path / "r.csv", CSV)
    (tmp_path / "empty").mkdir()
    rc, _, err = imp(capsys, "--train", src, "--test", src, "--output", tmp_path / "empty")
    assert_one_line_error(rc, err, "already exists (pass --force")
    assert imp(capsys, "--train", src, "--test", src, "--output", tmp_path / "empty", "--force")[0] == 0


@pytest.mark.parametrize("fmt", ["auto", "csv", "parquet", "semeval2014", "apc"])
def test_a_fifo_as_input_is_one_line_and_never_blocks(tmp_path, capsys, fmt):
    fifo = tmp_path / "in.csv"
    os.mkfifo(fifo)
    src = write(tmp_path / "r.csv", CSV)
    rc, _, err = imp(capsys, "--format", fmt, "--train", fifo, "--test", src, "--output", tmp_path / "ds")
    assert_one_line_error(rc, err, "in.csv: not a regular file")


def test_a_leftover_old_folder_is_left_alone(tmp_path, capsys):
    src = write(tmp_path / "r.csv", CSV)
    ds = tmp_path / "ds"
    assert imp(capsys, "--train", src, "--test", src, "--output", ds)[0] == 0
    write(tmp_path / ".ds.old" / "reviews.csv", "a user's file an old --force moved here")
    rc, _, err = imp(capsys, "--train", src, "--test", src, "--output", ds, "--force")
    assert rc == 0 and ".ds.old" in err and "Traceback" not in err
    assert (tmp_path / ".ds.old" / "reviews.csv").read_text().startswith("a user's file")
    assert hidden(tmp_path) == [".ds.old"]


def test_export_force_never_replaces_the_dataset_it_reads(tmp_path, capsys):
    src = write(tmp_path / "r.csv", CSV)
    ds = tmp_path / "ds"
    assert imp(capsys, "--train", src, "--test", src, "--output", ds)[0] == 0
    before = sorted(p.name for p in ds.iterdir())
    rc, _, err = cli(capsys, "data", "export", "--task", "atsa", "--dataset", ds, "--format", "csv",
                     "--output", ds, "--force")
    assert_one_line_error(rc, err, "holds the input")
    assert sorted(p.name for p in ds.iterdir()) == before


# ------------------------------------------------------------------ class 4: output paths
@pytest.mark.parametrize("output, needle", [
    ("{tmp}/afile/ds", "is a file"),
    ("/proc/fsa-distill-x/ds", "cannot create a folder there"),
    (".", "current folder"),
])
def test_bad_output_paths_are_one_line(tmp_path, capsys, monkeypatch, output, needle):
    monkeypatch.chdir(tmp_path)
    src = write(tmp_path / "r.csv", CSV)
    write(tmp_path / "afile", "x")
    rc, _, err = imp(capsys, "--train", src, "--test", src, "--output", output.format(tmp=tmp_path), "--force")
    assert_one_line_error(rc, err, needle)
    assert src.read_text() == CSV and (tmp_path / "afile").read_text() == "x"


# ------------------------------------------------------------------ class 3: decoded sizes
@pytest.fixture
def small_decoded_limit(monkeypatch):
    monkeypatch.setattr(limits, "MAX_DECODED_BYTES", 2_000_000, raising=False)


def parquet_bomb(path: Path, rows: int, cell: int) -> Path:
    """A few kB of Parquet holding rows x cell characters: one dictionary entry repeated."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    def repeated(value: str):
        return pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, dtype=np.int32)), pa.array([value]))

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"text": repeated("t" * cell), "aspect": repeated("t"), "polarity": repeated("pos")}), path)
    assert path.stat().st_size < 50_000
    return path


def test_parquet_bomb_refused_by_decoded_size(tmp_path, capsys, small_decoded_limit):
    bomb = parquet_bomb(tmp_path / "b.parquet", rows=4000, cell=10_000)  # 40 MB decoded
    rc, _, err = imp(capsys, "--train", bomb, "--test", bomb, "--output", tmp_path / "ds")
    assert_one_line_error(rc, err, "b.parquet", "MAX_DECODED_BYTES")
    assert not (tmp_path / "ds").exists()


def test_compressed_parquet_pages_refused_by_their_uncompressed_size(tmp_path, capsys, small_decoded_limit):
    import pyarrow as pa
    import pyarrow.parquet as pq

    bomb = tmp_path / "z.parquet"
    rows = ["t" * 10_000] * 2000  # 20 MB of pages, plain encoded, zstd-compressed to a few kB
    pq.write_table(pa.table({"text": rows, "aspect": ["t"] * 2000, "polarity": ["pos"] * 2000}), bomb,
                   use_dictionary=False, compression="zstd")
    assert bomb.stat().st_size < 100_000
    rc, _, err = imp(capsys, "--train", bomb, "--test", bomb, "--output", tmp_path / "ds")
    assert_one_line_error(rc, err, "z.parquet", "pages decompress", "MAX_DECODED_BYTES")
    assert not (tmp_path / "ds").exists()


def test_parquet_bomb_at_the_default_limit_is_never_expanded(tmp_path):
    """2 GB of text in a few kB: refused in a child whose peak memory stays far below it."""
    bomb = parquet_bomb(tmp_path / "b.parquet", rows=8000, cell=300_000)
    probe = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True); "
             "sys.stderr.write(r.stderr.decode()); "
             "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    r = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "fsa_distill.cli", "data", "import",
                        "--train", str(bomb), "--test", str(bomb), "--output", str(tmp_path / "ds")],
                       capture_output=True, text=True, env=env, timeout=300)
    rc, peak_kb = map(int, r.stdout.split())
    assert_one_line_error(rc, r.stderr, "MAX_DECODED_BYTES")
    assert peak_kb < 700_000, peak_kb


def saved_dataset(folder: Path, rows: int, cell: int, compression: str | None) -> Path:
    """A `save_to_disk` folder whose Arrow file is then rewritten with `rows` rows (zstd buffers
    when `compression`), the shape a hostile folder can take."""
    import datasets
    import pyarrow as pa

    datasets.Dataset.from_dict({"text": ["nice tea"], "aspect": ["tea"], "polarity": ["pos"]}).save_to_disk(str(folder))
    arrow = next(folder.glob("*.arrow"))
    table = pa.table({"text": pa.array(["t" * cell] * rows), "aspect": pa.array(["t"] * rows),
                      "polarity": pa.array(["pos"] * rows)})
    with pa.OSFile(str(arrow), "wb") as sink:
        with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression=compression)) as w:
            w.write_table(table, max_chunksize=500)
    return folder


def test_hf_saved_dataset_with_compressed_arrow_is_refused(tmp_path, capsys):
    folder = saved_dataset(tmp_path / "hf", rows=2000, cell=10_000, compression="zstd")  # 20 MB decoded
    assert sum(p.stat().st_size for p in folder.glob("*.arrow")) < 200_000
    test = write(tmp_path / "t.csv", CSV)
    rc, _, err = imp(capsys, "--format", "hf", "--train", folder, "--test", test, "--output", tmp_path / "ds")
    assert_one_line_error(rc, err, "compressed Arrow buffers")


def test_hf_saved_dataset_counted_by_decoded_size(tmp_path, capsys, small_decoded_limit):
    folder = saved_dataset(tmp_path / "hf", rows=1000, cell=10_000, compression=None)
    test = write(tmp_path / "t.csv", CSV)
    rc, _, err = imp(capsys, "--format", "hf", "--train", folder, "--test", test, "--output", tmp_path / "ds")
    assert_one_line_error(rc, err, "MAX_DECODED_BYTES")


@pytest.mark.parametrize("kind", ["jsonl.gz", "jsonl.bz2", "jsonl.xz", "parquet"])
def test_hf_folder_of_data_file_bombs_is_refused_before_datasets_reads_it(tmp_path, capsys, small_decoded_limit,
                                                                         kind):
    folder = tmp_path / "hf"
    if kind == "parquet":
        parquet_bomb(folder / "train.parquet", rows=4000, cell=10_000)
    else:
        import bz2
        import lzma

        folder.mkdir()
        line = json.dumps({"text": "t" * 10_000, "aspect": "t", "polarity": "pos"}) + "\n"
        opener = {"gz": gzip.open, "bz2": bz2.open, "xz": lzma.open}[kind.split(".")[1]]
        with opener(folder / f"train.{kind}", "wt") as f:
            f.write(line * 4000)  # 40 MB decompressed, ~100 kB on disk
    test = write(tmp_path / "t.csv", CSV)
    rc, _, err = imp(capsys, "--format", "hf", "--train", folder, "--test", test, "--output", tmp_path / "ds")
    assert_one_line_error(rc, err, "MAX_DECODED_BYTES")


def test_an_archive_in_a_hf_folder_is_refused_unread(tmp_path, capsys):
    import zipfile

    folder = tmp_path / "hf"
    folder.mkdir()
    with zipfile.ZipFile(folder / "train.zip", "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("train.csv", CSV)
    test = write(tmp_path / "t.csv", CSV)
    rc, _, err = imp(capsys, "--format", "hf", "--train", folder, "--test", test, "--output", tmp_path / "ds")
    assert_one_line_error(rc, err, "train.zip", "unpack it first")


def test_gzip_file_bounded_once_decompressed(tmp_path, capsys, monkeypatch):
    """(Held before issue 24 too: a .gz read whole stops at MAX_FILE_BYTES of text.)"""
    monkeypatch.setattr(limits, "MAX_FILE_BYTES", 1_000_000)
    bomb = tmp_path / "b.jsonl.gz"
    with gzip.open(bomb, "wt") as f:
        f.write((json.dumps({"text": "t" * 1000, "aspect": "t", "polarity": "pos"}) + "\n") * 5000)
    rc, _, err = imp(capsys, "--format", "jsonl", "--train", bomb, "--test", bomb, "--output", tmp_path / "ds")
    assert_one_line_error(rc, err, "MAX_FILE_BYTES")


def test_truncated_gzip_file_is_one_line(tmp_path, capsys):
    data = gzip.compress(("".join(json.dumps({"text": "nice tea", "aspect": "tea", "polarity": "pos"}) + "\n"
                                  for _ in range(1000))).encode())
    f = tmp_path / "t.jsonl.gz"
    f.write_bytes(data[:len(data) // 2])
    rc, _, err = imp(capsys, "--format", "jsonl", "--train", f, "--test", f, "--output", tmp_path / "ds")
    assert_one_line_error(rc, err, "t.jsonl.gz", "truncated")


# ------------------------------------------------------------------ class 4: numbers and nesting in cells
def csv_cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


CELL_CASES = {
    "JSONL integer offset": ("a.jsonl", json.dumps({"text": "nice tea", "aspect": "tea", "polarity": "pos"})[:-1]
                             + f', "from": {BIG}}}\n', ["a.jsonl: line 1", "digits"]),
    "JSON rows integer": ("a.json", f'[{{"text": "nice tea", "aspect": "tea", "polarity": "pos", "from": {BIG}}}]',
                          ["a.json", "digits"]),
    "CSV integer offset": ("a.csv", f"text,aspect,polarity,from\nnice tea,tea,pos,{BIG}\n",
                           ["a.csv: line 2", "not an integer"]),
    "CSV offset inf": ("i.csv", "text,aspect,polarity,from\nnice tea,tea,pos,inf\n", ["i.csv: line 2", "inf"]),
    "CSV offset 1e400": ("e.csv", "text,aspect,polarity,from\nnice tea,tea,pos,1e400\n", ["e.csv: line 2", "1e400"]),
    "CSV integer in the aspects cell": (
        "l.csv", "text,aspects\nnice tea," + csv_cell(f'[{{"term": "tea", "polarity": "pos", "from": {BIG}}}]') + "\n",
        ["l.csv: line 2", "aspects cell", "digits"]),
    "CSV aspects cell nested 3,000 deep": ("d.csv", "text,aspects\nnice tea," + csv_cell(DEEP) + "\n",
                                           ["d.csv: line 2", "aspects cell", "MAX_JSON_DEPTH"]),
    "CSV opinion words nested 3,000 deep": ("o.csv", "text,aspect,polarity,opinion_words\nnice tea,tea,pos,"
                                            + csv_cell(DEEP) + "\n", ["o.csv: line 2", "opinion_words", "MAX_JSON_DEPTH"]),
    "XML opinion words integer": ("n.xml", '<sentences><sentence id="1"><text>nice tea</text><aspectTerms>'
                                  '<aspectTerm term="tea" polarity="positive" from="5" to="8" opinion_words="['
                                  f'{BIG}]"/></aspectTerms></sentence></sentences>', ["n.xml", "opinion_words", "digits"]),
    "XML opinion words nested 3,000 deep": ("p.xml", '<sentences><sentence id="1"><text>nice tea</text><aspectTerms>'
                                            '<aspectTerm term="tea" polarity="positive" from="5" to="8" opinion_words="'
                                            f'{DEEP}"/></aspectTerms></sentence></sentences>',
                                            ["p.xml", "opinion_words", "MAX_JSON_DEPTH"]),
    "XML elements nested 3,000 deep in a text": ("x.xml", '<sentences><sentence id="1"><text>nice tea'
                                                 + "<a>" * 3000 + "</a>" * 3000 + '</text></sentence></sentences>',
                                                 ["x.xml: line 1", "nested deeper", "MAX_JSON_DEPTH"]),
}


@pytest.mark.parametrize("case", CELL_CASES)
def test_huge_integers_and_deep_nesting_in_cells_are_one_line(tmp_path, capsys, case):
    name, text, needles = CELL_CASES[case]
    f = write(tmp_path / name, text)
    rc, _, err = imp(capsys, "--train", f, "--test", f, "--dev", f, "--output", tmp_path / "ds")
    assert_one_line_error(rc, err, *needles)
    assert not (tmp_path / "ds").exists()


def test_negative_or_huge_offsets_are_re_found_and_counted(tmp_path, capsys):
    f = write(tmp_path / "o.csv", "text,aspect,polarity,from,to\nnice tea,tea,pos,-3,8\n"
                                  "bad cake,cake,neg,4,99999999999999999999\nok soup,soup,pos,3,7\n")
    rc, out, err = imp(capsys, "--train", f, "--test", f, "--dev", f, "--output", tmp_path / "ds")
    assert rc == 0, err
    assert "repaired: 2 test: offsets re-found" in out
    test = json.loads((tmp_path / "ds" / "test.json").read_text())
    assert [(a["from"], a["to"]) for r in test for a in r["aspects"]] == [(5, 8), (4, 8), (3, 7)]


# ------------------------------------------------------------------ class 5: no silent change
def test_exact_duplicate_csv_row_is_dropped_and_counted_with_its_line(tmp_path, capsys):
    f = write(tmp_path / "d.csv", "id,text,aspect,polarity\nr1,nice tea,tea,pos\nr1,nice tea,tea,pos\n"
                                  "r2,bad cake,cake,neg\nr3,ok soup,soup,pos\n")
    rc, out, _ = imp(capsys, "--train", f, "--test", f, "--dev", f, "--output", tmp_path / "ds")
    assert rc == 0 and "dropped: 3 exact duplicate rows" in out
    info = dataset_json(tmp_path / "ds")
    (reason, n), = [(k, v) for k, v in info["dropped"].items() if "duplicate rows" in k]
    assert n == 3 and info["where"][reason][0] == f"{f}: line 3"
    test = json.loads((tmp_path / "ds" / "test.json").read_text())
    assert [len(r["aspects"]) for r in test] == [1, 1, 1]


def test_unterminated_quote_is_an_error_naming_its_line(tmp_path, capsys):
    f = write(tmp_path / "q.csv", 'text,aspect,polarity\nnice tea,tea,pos\n"bad cake,cake,neg\nok soup,soup,pos\n')
    rc, _, err = imp(capsys, "--train", f, "--test", f, "--output", tmp_path / "ds")
    assert_one_line_error(rc, err, "q.csv: line 3", "never closed")


def test_conflicting_atepc_polarities_are_counted(tmp_path, capsys):
    f = write(tmp_path / "a.atepc", "The O -999\nbattery B-ASP Positive\nlife I-ASP Negative\nis O -999\n\n"
                                    "Fans O -999\nare O -999\nloud B-ASP Negative\n\nok O -999\ngo B-ASP Positive\n")
    rc, out, _ = imp(capsys, "--format", "atepc", "--train", f, "--test", f, "--dev", f, "--output", tmp_path / "ds")
    assert rc == 0 and "disagree on polarity" in out
    info = dataset_json(tmp_path / "ds")
    (reason, n), = [(k, v) for k, v in info["repaired"].items() if "disagree" in k]
    assert n == 3 and info["where"][reason][0] == f"{f}: line 3"


def test_control_characters_repaired_counted_and_export_parses_back(tmp_path, capsys):
    rows = [{"id": "s1", "text": "nice\x0btea", "aspect": "tea", "polarity": "pos", "category": "DRINKS#QUALITY"},
            {"id": "s2", "text": "bad\x00cake", "aspect": "cake", "polarity": "neg", "category": "FOOD\x01#QUALITY"},
            {"id": "s\x0c3", "text": "fine soup", "aspect": "soup", "polarity": "pos", "category": "FOOD#QUALITY"}]
    f = write(tmp_path / "c.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    rc, out, _ = imp(capsys, "--train", f, "--test", f, "--dev", f, "--output", tmp_path / "ds")
    assert rc == 0 and "control characters" in out
    assert sum(v for k, v in dataset_json(tmp_path / "ds")["repaired"].items() if "control" in k) == 9
    for fmt in ("semeval2014", "semeval2016"):
        out_dir = tmp_path / f"x-{fmt}"
        assert cli(capsys, "data", "export", "--task", "atsa", "--dataset", tmp_path / "ds", "--format", fmt,
                   "--output", out_dir)[0] == 0
        texts = [t.text for t in ET.parse(out_dir / "test.xml").getroot().iter("text")]
        assert texts == ["nice tea", "bad cake", "fine soup"]


def test_export_refuses_a_hand_written_dataset_xml_cannot_carry(tmp_path, capsys):
    ds = tmp_path / "hand"
    rec = [{"ID": "1", "sentence": "nice\x0btea", "aspects": [{"from": 5, "to": 8, "target": "tea",
                                                             "category": None, "polarity": "positive"}]}]
    for split in ("train", "dev", "test"):
        write(ds / f"{split}.json", json.dumps(rec))
    rc, _, err = cli(capsys, "data", "export", "--task", "atsa", "--dataset", ds, "--format", "semeval2014",
                     "--output", tmp_path / "x")
    assert_one_line_error(rc, err, "U+000B", "ID 1")
    assert not (tmp_path / "x").exists()


# ------------------------------------------------------------------ class 6: DTDs and entities by parsing
@pytest.mark.parametrize("fmt", ["auto", "semeval2014"])
def test_utf16_file_declaring_an_entity_is_refused(tmp_path, capsys, fmt):
    xml = ('<?xml version="1.0" encoding="UTF-16"?>\n<!DOCTYPE sentences [<!ENTITY f "food">]>\n<sentences>'
           '<sentence id="1"><text>the &f; was great</text><aspectTerms><aspectTerm term="food" polarity="positive" '
           'from="4" to="8"/></aspectTerms></sentence></sentences>\n')
    f = tmp_path / "u.xml"
    f.write_bytes(xml.encode("utf-16"))
    rc, _, err = imp(capsys, "--format", fmt, "--train", f, "--test", f, "--output", tmp_path / "ds")
    assert_one_line_error(rc, err, "u.xml: line 2", "not accepted")
    assert not (tmp_path / "ds").exists()


def test_a_utf16_semeval_file_without_a_dtd_still_imports(tmp_path, capsys):
    xml = ('<?xml version="1.0" encoding="UTF-16"?>\n<sentences><sentence id="1"><text>the food was great</text>'
           '<aspectTerms><aspectTerm term="food" polarity="positive" from="4" to="8"/></aspectTerms></sentence>'
           '<sentence id="2"><text>we left</text></sentence></sentences>\n')
    f = tmp_path / "u.xml"
    f.write_bytes(xml.encode("utf-16"))
    assert imp(capsys, "--train", f, "--test", f, "--output", tmp_path / "ds")[0] == 0


# ------------------------------------------------------------------ class 7: PyABSA APC with two $T$
APC_TWO_MARKERS = ("the $T$ was hot and the $T$s were cold .\npizza\n1\n"      # repaired: the 2nd is in "pizzas"
                   "$T$ and $T$ .\ntea\n0\n"                                  # skipped: both at word boundaries
                   "the $T$ was slow .\nservice\n-1\n"
                   "the $T$ was fine .\nsoup\n1\n")


def test_apc_lines_with_two_markers_repaired_or_skipped_and_counted(tmp_path, capsys):
    f = write(tmp_path / "train.apc", APC_TWO_MARKERS)
    rc, out, _ = imp(capsys, "--format", "apc", "--train", f, "--test", f, "--dev", f, "--output", tmp_path / "ds")
    assert rc == 0, out
    info = dataset_json(tmp_path / "ds")
    (rep, n_rep), = [(k, v) for k, v in info["repaired"].items() if "$T$" in k]
    (drop, n_drop), = [(k, v) for k, v in info["dropped"].items() if "$T$" in k]
    assert (n_rep, n_drop) == (3, 3)
    assert info["where"][rep][0] == f"{f}: line 1" and info["where"][drop][0] == f"{f}: line 4"
    test = json.loads((tmp_path / "ds" / "test.json").read_text())
    assert test[0]["sentence"] == "the pizza was hot and the pizzas were cold ."
    assert (test[0]["aspects"][0]["from"], test[0]["aspects"][0]["to"]) == (4, 9)
    assert len(test) == 3


def test_apc_strict_makes_two_markers_an_error(tmp_path, capsys):
    f = write(tmp_path / "train.apc", APC_TWO_MARKERS)
    rc, _, err = imp(capsys, "--format", "apc", "--strict", "--train", f, "--test", f, "--output", tmp_path / "ds")
    assert_one_line_error(rc, err, "train.apc: line 1", "found 2")


def test_apc_group_repeated_exactly_is_dropped_and_counted(tmp_path, capsys):
    f = write(tmp_path / "train.apc", "the $T$ was hot .\npizza\n1\nthe $T$ was hot .\npizza\n1\n"
                                      "the $T$ was slow .\nservice\n-1\nthe $T$ was fine .\nsoup\n1\n")
    assert imp(capsys, "--format", "apc", "--train", f, "--test", f, "--dev", f, "--output", tmp_path / "ds")[0] == 0
    info = dataset_json(tmp_path / "ds")
    (reason, n), = [(k, v) for k, v in info["dropped"].items() if "repeating" in k]
    assert n == 3 and info["where"][reason][0] == f"{f}: line 4"
    assert [len(r["aspects"]) for r in json.loads((tmp_path / "ds" / "test.json").read_text())] == [1, 1, 1]
