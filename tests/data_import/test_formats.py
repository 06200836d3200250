"""Each import format on small hand-written files in its real layout, awkward parts included."""

import json
import subprocess
import sys

from fsa_distill.benchmark.data import load_split
from fsa_distill.cli import main

SEMEVAL14 = """\ufeff<?xml version="1.0" encoding="UTF-8"?>\r
<sentences>\r
  <sentence id="1">\r
    <text>The food &amp; the &quot;service&quot; were great, the food&#39;s price not.</text>\r
    <aspectTerms>\r
      <aspectTerm term="food" polarity="positive" from="4" to="8"/>\r
      <aspectTerm term="&quot;service&quot;" polarity="conflict" from="15" to="24"/>\r
      <aspectTerm term="food" polarity="negative" from="41" to="45"/>\r
    </aspectTerms>\r
    <aspectCategories>\r
      <aspectCategory category="food" polarity="conflict"/>\r
      <aspectCategory category="service" polarity="positive"/>\r
    </aspectCategories>\r
  </sentence>\r
  <sentence id="2">\r
    <text>We went there on a Sunday.</text>\r
  </sentence>\r
</sentences>\r
"""

SEMEVAL16 = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Reviews>
  <Review rid="1004293">
    <sentences>
      <sentence id="1004293:0">
        <text>Judging from previous posts this used to be a good place, but not any longer.</text>
        <Opinions>
          <Opinion target="place" category="RESTAURANT#GENERAL" polarity="negative" from="51" to="56"/>
        </Opinions>
      </sentence>
      <sentence id="1004293:1" OutOfScope="TRUE">
        <text>Everything was overpriced &amp; bland.</text>
        <Opinions>
          <Opinion target="NULL" category="FOOD#PRICES" polarity="negative" from="0" to="0"/>
          <Opinion target="NULL" category="FOOD#QUALITY" polarity="negative" from="0" to="0"/>
        </Opinions>
      </sentence>
      <sentence id="1004293:2">
        <text>No comment.</text>
      </sentence>
    </sentences>
    <Opinions>
      <Opinion category="RESTAURANT#GENERAL" polarity="negative"/>
    </Opinions>
  </Review>
</Reviews>
"""


def write(path, text, mode="w"):
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return str(path)


def run_import(capsys, *args):
    rc = main(["data", "import", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def info_of(folder):
    return json.loads((folder / "dataset.json").read_text())


def aspects(folder, split, task="atsa"):
    return [(e.id, [(a.target, a.category, a.polarity, a.start, a.end) for a in e.aspects])
            for e in load_split(task, str(folder), split)]


def test_semeval2014_terms_entities_bom_crlf_conflict_repeats(tmp_path, capsys):
    f = write(tmp_path / "in" / "train.xml", SEMEVAL14)
    out = tmp_path / "ds"
    rc, stdout, err = run_import(capsys, "--train", f, "--test", f, "--dev", f, "--output", str(out))
    assert rc == 0 and "format semeval2014 (XML with root <sentences>)" in err
    train = aspects(out, "train")
    assert train == [("1", [("food", None, "positive", 4, 8), ('"service"', None, "conflict", 15, 24),
                            ("food", None, "negative", 41, 45)]), ("2", [])]
    ex = load_split("atsa", str(out), "train")[0]
    assert ex.sentence == "The food & the \"service\" were great, the food's price not."
    info = info_of(out)
    assert info["counts"]["train"] == {"sentences": 2, "aspects": 3, "without_aspects": 1}
    assert info["dropped"] == {"aspectCategories not read (task atsa reads aspectTerms; --task acsa reads them)": 6}
    assert "dropped: 6 aspectCategories not read" in stdout
    # the same file as ACSA reads the categories
    out2 = tmp_path / "ds2"
    assert run_import(capsys, "--task", "acsa", "--train", f, "--test", f, "--output", str(out2))[0] == 0
    assert aspects(out2, "test", "acsa")[0][1] == [("NULL", "food", "conflict", None, None),
                                                   ("NULL", "service", "positive", None, None)]


def test_semeval2016_null_targets_out_of_scope_and_review_opinions(tmp_path, capsys):
    f = write(tmp_path / "r16.xml", SEMEVAL16)
    out = tmp_path / "ds"
    rc, stdout, _ = run_import(capsys, "--task", "acsa", "--train", f, "--dev", f, "--test", f,
                               "--output", str(out), "--name", "my-rest")
    assert rc == 0
    test = aspects(out, "test", "acsa")
    assert [i for i, _ in test] == ["1004293:0", "1004293:1", "1004293:2"]
    assert test[0][1] == [("place", "RESTAURANT#GENERAL", "negative", 51, 56)]
    assert test[1][1] == [("NULL", "FOOD#PRICES", "negative", None, None), ("NULL", "FOOD#QUALITY", "negative", None, None)]
    assert test[2][1] == []
    info = info_of(out)
    assert info["name"] == "my-rest" and info["task"] == "acsa"
    assert info["dropped"]["review-level Opinions (text-level subtask, no sentence to attach to)"] == 3  # 1 per file
    assert "view implicit: unavailable (no opinion words" in stdout and "view hard: unavailable" in stdout


CSV_ROWS = ("\ufeffid,text,aspect,label,category\r\n"
            "s1,\"The food was good, the food was cheap\",food,pos,\r\n"
            "s1,\"The food was good, the food was cheap\",food,POS,\r\n"
            "s2,\"Service, slow.\",Service,-1,\r\n"
            "s3,Nothing to say.,,,\r\n")


def test_csv_one_row_per_aspect_repeated_terms_bom_crlf(tmp_path, capsys):
    f = write(tmp_path / "train.csv", CSV_ROWS)
    out = tmp_path / "ds"
    assert run_import(capsys, "--train", f, "--test", f, "--output", str(out), "--dev-fraction", "0.34")[0] == 0
    test = dict(aspects(out, "test"))
    # the repeated term gets both of its spans, in order
    assert test["s1"] == [("food", None, "positive", 4, 8), ("food", None, "positive", 23, 27)]
    assert test["s2"] == [("Service", None, "negative", 0, 7)] and test["s3"] == []
    info = info_of(out)
    assert info["counts"]["dev"]["sentences"] == 1 and info["counts"]["train"]["sentences"] == 2


def test_csv_offsets_repaired_and_counted_and_explicit_label_map(tmp_path, capsys):
    f = write(tmp_path / "t.csv", "sentence,term,sentiment,from,to\n"
                                  "Great pizza.,pizza,2,0,5\n"       # offsets off: re-found, counted
                                  "Bad wine.,wine ,0,4,8\n")     # a space after the term: removed, counted
    out = tmp_path / "ds"
    rc, stdout, _ = run_import(capsys, "--train", f, "--dev", f, "--test", f, "--output", str(out),
                               "--label-map", "0=negative,1=neutral,2=positive")
    assert rc == 0
    assert dict(aspects(out, "test")) == {"test-0": [("pizza", None, "positive", 6, 11)],
                                          "test-1": [("wine", None, "negative", 4, 8)]}
    assert info_of(out)["repaired"]["test: offsets re-found (they did not point at the term)"] == 1
    assert info_of(out)["repaired"]["test: spaces around a term removed"] == 1
    assert "repaired: 1 test: offsets re-found" in stdout


def test_jsonl_and_json_rows_one_per_sentence(tmp_path, capsys):
    rows = [{"raw_text": "The screen is bright but the fan is loud",
             "aspectTerms": [{"term": "screen", "polarity": "positive"}, {"term": "fan", "polarity": "negative"}]},
            {"raw_text": "It is a laptop", "aspectTerms": []}]
    f = write(tmp_path / "t.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    g = write(tmp_path / "t.json", json.dumps(rows))
    out = tmp_path / "ds"
    rc, _, err = run_import(capsys, "--train", f, "--test", g, "--output", str(out))
    assert rc == 0 and "format jsonl" in err
    assert aspects(out, "test") == [("test-0", [("screen", None, "positive", 4, 10), ("fan", None, "negative", 29, 32)]),
                                    ("test-1", [])]


def test_parquet_with_list_column_and_setfit_ordinal(tmp_path, capsys):
    import pyarrow as pa  # a hard dependency: a broken install fails here, never skips
    import pyarrow.parquet as pq

    per_sentence = pa.table({"text": ["tea and more tea", "ok"],
                             "aspects": [[{"term": "tea", "polarity": "neutral", "from": 13, "to": 16}], []]})
    pq.write_table(per_sentence, tmp_path / "a.parquet")
    setfit = pa.table({"text": ["tea and more tea"], "span": ["tea"], "label": ["positive"], "ordinal": [1]})
    pq.write_table(setfit, tmp_path / "b.parquet")
    out = tmp_path / "ds"
    assert run_import(capsys, "--train", str(tmp_path / "a.parquet"), "--test", str(tmp_path / "b.parquet"),
                      "--output", str(out))[0] == 0
    assert aspects(out, "test") == [("test-0", [("tea", None, "positive", 13, 16)])]
    assert dict(aspects(out, "train") + aspects(out, "dev"))["train-0"] == [("tea", None, "neutral", 13, 16)]


APC = ("the $T$ was great but the food was cold .\r\nfood\r\n1\r\n"
       "the food was great but the $T$ was cold .\r\nfood\r\n-1\r\n"
       "$T$ is fine\r\nservice\r\n0\r\n")


def test_apc_three_lines_per_aspect_merged_per_sentence(tmp_path, capsys):
    f = write(tmp_path / "rest.apc.train.txt", APC)
    out = tmp_path / "ds"
    rc, _, err = run_import(capsys, "--train", f, "--dev", f, "--test", f, "--output", str(out))
    assert rc == 0 and "format apc (lines with $T$" in err
    assert aspects(out, "test") == [
        ("test-0", [("food", None, "positive", 4, 8), ("food", None, "negative", 27, 31)]),
        ("test-1", [("service", None, "neutral", 0, 7)])]


ATEPC = ("The O -999\nbattery B-ASP Positive\nlife I-ASP Positive\nand O -999\nscreen B-ASP -999\n. O -999\n\n"
         "The O -999\nbattery B-ASP -999\nlife I-ASP -999\nand O -999\nscreen B-ASP Negative\n. O -999\n\n"
         "Nice O -999\n")


def test_atepc_bio_copies_merged(tmp_path, capsys):
    f = write(tmp_path / "x.atepc", ATEPC)
    out = tmp_path / "ds"
    rc, _, err = run_import(capsys, "--train", f, "--dev", f, "--test", f, "--output", str(out))
    assert rc == 0 and "format atepc" in err
    ex = load_split("atsa", str(out), "test")
    assert ex[0].sentence == "The battery life and screen ."
    assert aspects(out, "test") == [("test-0", [("battery life", None, "positive", 4, 16),
                                                ("screen", None, "negative", 21, 27)]), ("test-1", [])]


def test_hf_saved_dataset_dict_gives_its_splits(tmp_path, capsys):
    import datasets  # a hard dependency: a broken install fails here, never skips
    rows = {"text": ["good soup", "bad bread"], "aspect": ["soup", "bread"], "polarity": ["positive", "negative"]}
    dd = datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows),
                               "validation": datasets.Dataset.from_dict(rows),
                               "test": datasets.Dataset.from_dict(rows)})
    dd.save_to_disk(str(tmp_path / "hf"))
    out = tmp_path / "ds"
    rc, _, err = run_import(capsys, "--train", str(tmp_path / "hf"), "--output", str(out))
    assert rc == 0 and "format hf" in err
    assert info_of(out)["counts"]["dev"]["sentences"] == 2  # the DatasetDict's validation split
    assert aspects(out, "test")[1] == ("test-1", [("bread", None, "negative", 4, 9)])
    # one row per sentence with a Sequence of {term, polarity}, which datasets hands out as a dict of lists
    features = datasets.Features({"sentence": datasets.Value("string"), "aspects": datasets.Sequence(
        {"term": datasets.Value("string"), "polarity": datasets.Value("string")})})
    seq = datasets.Dataset.from_dict({"sentence": ["tea and cake", "none here"],
                                      "aspects": [{"term": ["tea", "cake"], "polarity": ["positive", "negative"]},
                                                  {"term": [], "polarity": []}]}, features=features)
    seq.save_to_disk(str(tmp_path / "seq"))
    out2 = tmp_path / "ds2"
    assert run_import(capsys, "--format", "hf", "--train", str(tmp_path / "seq"), "--dev", str(tmp_path / "seq"),
                      "--test", str(tmp_path / "seq"), "--output", str(out2))[0] == 0
    assert aspects(out2, "test") == [("test-0", [("tea", None, "positive", 0, 3), ("cake", None, "negative", 8, 12)]),
                                     ("test-1", [])]


def test_benchmark_format_repairs_hand_written_offsets(tmp_path, capsys):
    recs = [{"ID": "a", "sentence": "Nice view here", "aspects": [
        {"from": 0, "to": 4, "target": "view", "polarity": "positive"}]}]
    f = write(tmp_path / "mine.json", json.dumps(recs))
    out = tmp_path / "ds"
    rc, _, err = run_import(capsys, "--train", f, "--dev", f, "--test", f, "--output", str(out))
    assert rc == 0 and "format benchmark" in err
    assert aspects(out, "test") == [("a", [("view", None, "positive", 5, 9)])]


def test_duplicate_ids_merged_or_renamed_and_counted(tmp_path, capsys):
    xml = SEMEVAL14.replace('<sentence id="2">', '<sentence id="1">')  # same id, another sentence
    xml = xml.replace("</sentences>", SEMEVAL14.split("<sentences>")[1].split("</sentences>")[0] + "</sentences>")
    f = write(tmp_path / "d.xml", xml)
    out = tmp_path / "ds"
    assert run_import(capsys, "--train", f, "--dev", f, "--test", f, "--output", str(out))[0] == 0
    info = info_of(out)
    # 1, 1 (another sentence), then 1 again (an exact copy) and 2
    assert [i for i, _ in aspects(out, "test")] == ["1", "1#2", "2"]
    assert info["dropped"]["test: exact duplicate records"] == 1
    assert info["repaired"]["test: IDs reused for another sentence, renamed ID#k"] == 1


def test_output_is_atomic_and_not_overwritten(tmp_path, capsys):
    f = write(tmp_path / "t.csv", CSV_ROWS)
    out = tmp_path / "ds"
    assert run_import(capsys, "--train", f, "--test", f, "--output", str(out))[0] == 0
    rc, _, err = run_import(capsys, "--train", f, "--test", f, "--output", str(out))
    assert rc == 2 and "already exists (pass --force" in err
    assert run_import(capsys, "--train", f, "--test", f, "--output", str(out), "--force")[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "t.csv"]  # no temporary folders left


def test_cli_subprocess_prints_detected_format(tmp_path):
    f = write(tmp_path / "t.xml", SEMEVAL14)
    r = subprocess.run([sys.executable, "-m", "fsa_distill.cli", "data", "import", "--train", f, "--test", f,
                        "--output", str(tmp_path / "ds")], check=False, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "t.xml: format semeval2014" in r.stderr and "wrote" in r.stdout


def test_ids_shared_by_test_and_hard_test(tmp_path, capsys):
    test = write(tmp_path / "test.csv", "id,text,aspect,polarity\n1,good tea,tea,positive\n")
    other = write(tmp_path / "hard.csv", "id,text,aspect,polarity\n1,bad cake,cake,negative\n")
    out = tmp_path / "ds"
    assert run_import(capsys, "--train", test, "--dev", test, "--test", test, "--hard-test", other,
                      "--output", str(out))[0] == 0
    assert [e.id for e in load_split("atsa", str(out), "hard_test")] == ["1#hard"]
    assert info_of(out)["repaired"] == {"hard_test: IDs also used in test, renamed ID#hard": 1}
    rc, _, err = run_import(capsys, "--train", test, "--dev", test, "--test", test, "--hard-test", test,
                            "--output", str(tmp_path / "ds2"))
    assert rc == 2 and f"{test} and {test}: the sentence with ID '1' is in both test and hard_test" in err
    assert not (tmp_path / "ds2").exists()
