import json

import pytest

from fsa_distill.errors import FsaError
from fsa_distill.teacher.corpus import CorpusWriter, record_key, repair_tail, scan


def rec(i, **kw):
    return {"key": record_key("rewrite", "rewrite-v1", "t", f"review {i}"), "kind": "rewrite", "ok": True,
            "flags": [], "prompt_tokens": 3, "completion_tokens": 5, **kw}


def test_key_depends_on_what_determines_the_answer():
    k = record_key("analysis", "analysis-v1", "m", "Great  Food!")
    assert len(k) == 64 and k == record_key("analysis", "analysis-v1", "m", "great food!")
    assert len({k, record_key("rewrite", "analysis-v1", "m", "great food!"),
                record_key("analysis", "analysis-v2", "m", "great food!"),
                record_key("analysis", "analysis-v1", "other", "great food!"),
                record_key("analysis", "analysis-v1", "m", "great food")}) == 5


def test_torn_last_line_is_cut_and_not_duplicated(tmp_path):
    path = tmp_path / "corpus.jsonl"
    with CorpusWriter(path) as w:
        w.write_many([rec(0), rec(1)])
    good = path.read_bytes()
    path.write_bytes(good + json.dumps(rec(2)).encode()[:40])  # a crash mid-write
    with CorpusWriter(path) as w:
        assert w.torn_bytes == 40
        assert path.read_bytes() == good
        keys, _ = scan(path)
        assert keys == {rec(0)["key"], rec(1)["key"]}
        w.write_many([rec(2)])
    keys, light = scan(path)
    assert len(light) == 3 and rec(2)["key"] in keys
    assert len(path.read_text().splitlines()) == 3


def test_repair_tail_cases(tmp_path):
    p = tmp_path / "c.jsonl"
    assert repair_tail(p) == 0
    p.write_bytes(b"")
    assert repair_tail(p) == 0
    p.write_bytes(b'{"key": "x"')  # a first record torn
    assert repair_tail(p) == 11 and p.read_bytes() == b""
    p.write_bytes(b'{"key": "x"}\n')
    assert repair_tail(p) == 0


def test_edited_file_is_a_clear_error(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text(json.dumps(rec(0)) + "\nnot json\n" + json.dumps(rec(1)) + "\n")
    with pytest.raises(FsaError, match=r"c\.jsonl:2: not a corpus record"):
        scan(p)
