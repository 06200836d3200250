"""Bad input in every format: exit 2, one line naming the file and line/record, no traceback, no folder."""

import json
import subprocess
import sys

import pytest

SEMEVAL14 = """<?xml version="1.0" encoding="UTF-8"?>
<sentences>
  <sentence id="1">
    <text>The food was great, the food's price not.</text>
    <aspectTerms>
      <aspectTerm term="food" polarity="positive" from="4" to="8"/>
      <aspectTerm term="food" polarity="negative" from="24" to="28"/>
    </aspectTerms>
  </sentence>
  <sentence id="2">
    <text>We went there on a Sunday.</text>
  </sentence>
</sentences>
"""
APC = ("the $T$ was great but the food was cold .\r\nfood\r\n1\r\n"
       "the food was great but the $T$ was cold .\r\nfood\r\n-1\r\n"
       "$T$ is fine\r\nservice\r\n0\r\n")

CASES = {
    "truncated XML": ("t.xml", SEMEVAL14[:200], [], r"t.xml: line \d+ column \d+: invalid XML"),
    "entity declaration": ("e.xml", '<?xml version="1.0"?>\n<!DOCTYPE s [<!ENTITY a "aaaa">]>\n<sentences/>', [],
                           r"e.xml: line 2: XML DTDs and entity declarations are not accepted"),
    "XML aspect not in sentence": ("m.xml", SEMEVAL14.replace('term="food" polarity="positive"',
                                                              'term="pizza" polarity="positive"'),
                                   [], r"m.xml: <sentence> 0 \(ID 1\): aspect 'pizza' does not occur in the sentence"),
    "CSV without its text column": ("c.csv", "review_body,aspect,polarity\nnice,nice,positive\n", [],
                                    r"c.csv: line 1: no text column \(tried text, sentence"),
    "CSV unknown polarity label": ("u.csv", "text,aspect,polarity\nnice tea,tea,positive\nbad tea,tea,meh\n", [],
                                   r"u.csv: line 3: unknown polarity label 'meh'"),
    "CSV extra fields": ("x.csv", "text,aspect,polarity\nnice tea,tea,positive,oops\n", [],
                         r"x.csv: line 2: more fields than the header has"),
    "label map to a non-polarity": ("l.csv", "text,aspect,polarity\nnice tea,tea,1\n",
                                    ["--label-map", "1=good"], r"--label-map: \['good'\] not among"),
    "JSONL bad line": ("j.jsonl", '{"text": "a tea", "aspect": "tea", "polarity": "positive"}\n{oops\n', [],
                       r"j.jsonl: line 2: invalid JSON"),
    "APC not a multiple of 3": ("a.apc.txt", APC + "one more $T$\r\nline\r\n", [],
                                r"a.apc.txt: 11 lines, not a multiple of 3 .*group starting at line 10"),
    "APC without $T$": ("b.apc.txt", "$T$ ok\nx\n1\nno placeholder\nx\n1\n", ["--format", "apc"],
                        r"b.apc.txt: line 4: expected exactly one \$T\$"),
    "ATEPC bad tag": ("c.atepc", "The O -999\nfood X-ASP Positive\n", ["--format", "atepc"],
                      r"c.atepc: line 2: tag 'X-ASP' is not O, B-... or I-..."),
    "benchmark deep nesting": ("d.json", "[" * 100_000, ["--format", "benchmark"],
                               r"d.json: JSON nested deeper than limits.MAX_JSON_DEPTH"),
    "dev fraction out of range": ("v.csv", "text,aspect,polarity\nnice tea,tea,1\n", ["--dev-fraction", "1.5"],
                                  r"data import: dev_fraction: Input should be less than 1"),
    "unknown format": ("w.bin", "\x00\x01 nothing", [], r"w.bin: could not tell the format: pass --format"),
    "lone surrogate": ("s.jsonl", '{"text": "tea \\ud800", "aspect": "tea", "polarity": "positive"}\n', [],
                       r"s.jsonl: line 1: sentence: invalid Unicode at character 4"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_exit_2_and_leaves_no_folder(tmp_path, case):
    name, content, extra, pattern = CASES[case]
    src = tmp_path / "in" / name
    src.parent.mkdir()
    src.write_text(content, encoding="utf-8", newline="")
    out = tmp_path / "out" / "ds"
    r = subprocess.run([sys.executable, "-m", "fsa_distill.cli", "data", "import", "--train", str(src),
                        "--test", str(src), "--output", str(out), *extra],
                       check=False, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, (r.stdout, r.stderr)
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(err) == 1 and "Traceback" not in r.stderr, r.stderr
    import re

    assert re.search(pattern, err[0]), err[0]
    assert not out.exists() and not any((tmp_path / "out").glob(".*")) if (tmp_path / "out").exists() else True


def test_a_failure_after_reading_leaves_no_folder(tmp_path, monkeypatch, capsys):
    """The folder is validated by the benchmark loader before it is renamed into place."""
    from fsa_distill import limits
    from fsa_distill.cli import main

    src = tmp_path / "t.json"
    src.write_text(json.dumps([{"text": "nice tea here", "aspect": "tea", "polarity": "positive"}]))
    monkeypatch.setattr(limits, "MAX_JSON_DEPTH", 3)  # our own output (4 deep) now fails on loading back
    assert main(["data", "import", "--format", "jsonl", "--train", str(src), "--dev", str(src), "--test", str(src),
                 "--output", str(tmp_path / "ds")]) == 2
    assert "JSON nested deeper" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.json"]
