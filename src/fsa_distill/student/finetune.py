"""Fine-tune a student on ATSA or ACSA and evaluate it on every view: one (task, dataset, seed).

Either family (inference/student.py): a generative seq2seq student (`tiny`, `minilm`, T5) trained
with Seq2SeqTrainer on sentence -> target string, or an extractive one (`minilm-tagger`,
`mpnet-tagger`, or `family: extractive` on any encoder or generative folder, whose encoder it
takes) trained with Trainer on token labels (student/tagging.py). Both write the same strings.

`FinetuneRecipe` reads top to bottom as the recipe runs:
  1. setup: load the splits, build the student (preset, folder or hub id) and its training data
  2. train: AdamW on *all* parameters (the reference applies weight decay to every tensor, unlike
     Trainer's default), linear decay, clip 1.0, bf16 where the hardware has it
  3. select: every `eval_every_steps` steps (or epochs), analyse dev and keep the model if dev
     micro-F1 is strictly better; stop after `patience` evaluations without a better one
     (early stopping; `epochs` is then the cap; an evaluation at F1 0, a head not firing yet,
     does not count, nor one up to `patience_from_epoch`). The run is *converged* when it stopped so: its
     best came at least `patience` evaluations before the end
  4. evaluate the best model on test+hard once and score all views, through the same Student
  5. save the run folder (runs.py): config.yaml, run_info.json, dev_curve.{json,csv}, eval/,
     metrics.json, best_model/ (with a model card), or only the metrics when save_model is false

The config is in finetune_config.py, dev selection and early stopping in selection.py, the model
card in cards.py.
"""

from __future__ import annotations

import logging
import math
import platform
import random
import shutil
import time
from pathlib import Path

from fsa_distill import runs
from fsa_distill.errors import FsaError
from fsa_distill.student.cards import write_finetune_card
from fsa_distill.student.finetune_config import FinetuneConfig, TrainSettings  # noqa: F401  (importable here)
from fsa_distill.student.selection import DevSelection

log = logging.getLogger(__name__)


def build_pairs(task: str, examples) -> tuple[list[str], list[str]]:
    from fsa_distill.benchmark.targets import make_target

    return [e.sentence for e in examples], [make_target(task, e) for e in examples]


def tokenize_pairs(tokenizer, sources: list[str], targets: list[str]):
    """No truncation and per-batch padding, as the reference (max_seq_length -1)."""
    import datasets

    from fsa_distill.decoding.text import to_model_text

    enc = tokenizer([to_model_text(s) for s in sources])
    labels = tokenizer(text_target=[to_model_text(t) for t in targets])["input_ids"]
    return datasets.Dataset.from_dict({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
                                       "labels": labels})


def sampling_args(group_by_length: bool) -> dict:
    """Trainer arguments for the batch sampler: transformers 5 names a strategy, 4.x has a flag."""
    if not group_by_length:
        return {}
    from transformers import Seq2SeqTrainingArguments

    fields = Seq2SeqTrainingArguments.__dataclass_fields__
    if "train_sampling_strategy" in fields:
        return {"train_sampling_strategy": "group_by_length"}
    return {"group_by_length": True}


def environment_info() -> dict:
    import torch
    import transformers

    from fsa_distill import __version__

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"cpu ({platform.processor() or platform.machine()})"
    return {"fsa_distill": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "device": device,
            "cpu_threads": torch.get_num_threads(), "host": platform.node()}


def finished_run(cfg: FinetuneConfig) -> dict | None:
    """The stored result of a finished run with exactly this config, else None."""
    run_dir = cfg.run_dir()
    if not runs.finished(run_dir, cfg, "finetune"):
        return None
    return {"run_dir": str(run_dir), "metrics": runs.read_json(run_dir / runs.METRICS_FILE),
            "info": runs.read_json(run_dir / runs.RUN_INFO_FILE), "skipped": True}


def check_inputs(cfg: FinetuneConfig) -> None:
    """Everything the run will need, checked before the model loads: the views and the test
    files they read (needed only after training, so a typo there used to cost the whole
    training), the output folder and the student's folder."""
    from fsa_distill.benchmark.views import canonical_view, load_views
    from fsa_distill.models import check_model_spec
    from fsa_distill.resources import check_output_dir

    for view in cfg.views:
        canonical_view(view)
    check_output_dir(cfg.run_dir(), "output_dir")
    check_model_spec(cfg.model)
    load_views(cfg.task, cfg.dataset, cfg.data_dir)  # test.json and hard_test.json, parsed


def finetune(cfg: FinetuneConfig, progress: bool = True) -> dict:
    """Run one fine-tuning; a finished run with the same config is returned without redoing it."""
    return run_recipe(FinetuneRecipe, cfg, progress)


def run_recipe(recipe_cls, cfg: FinetuneConfig, progress: bool = True) -> dict:
    """Check the inputs, return the finished run with this config if there is one, else run
    `recipe_cls` (FinetuneRecipe or a subclass: the multi-task recipe) from setup to save."""
    check_inputs(cfg)
    done = finished_run(cfg)
    if done is not None:
        log.info("%s: finished with the same config, skipping", done["run_dir"])
        return done
    recipe = recipe_cls(cfg, progress)
    recipe.setup()
    recipe.train()
    recipe.evaluate()
    return recipe.save()


def warmup_steps(cfg: FinetuneConfig, n_train: int) -> int:
    """`train.warmup_ratio` of all optimizer steps, rounded up (as the Trainer rounds a ratio)."""
    t = cfg.train
    total = t.max_steps if t.max_steps > 0 else math.ceil(t.epochs * math.ceil(n_train / t.batch_size))
    return math.ceil(t.warmup_ratio * total)


def resolve_family(cfg: FinetuneConfig) -> str:
    """`family: auto` -> extractive for a tagger preset or folder, else generative."""
    from fsa_distill.inference.student import family_of
    from fsa_distill.models import EXTRACTIVE_PRESETS

    if cfg.family != "auto":
        return cfg.family
    return "extractive" if cfg.model in EXTRACTIVE_PRESETS or family_of(cfg.model) == "extractive" else "generative"


class FinetuneRecipe:
    """One fine-tuning: setup, train (with dev selection and early stopping), evaluate, save."""

    def __init__(self, cfg: FinetuneConfig, progress: bool):
        self.cfg, self.progress = cfg, progress
        self.run_dir = cfg.run_dir()
        self.timing: dict[str, float] = {}
        self.t0 = time.perf_counter()

    def setup(self) -> None:
        from transformers import set_seed

        from fsa_distill.benchmark.data import load_split
        from fsa_distill.models import read_meta, resolve_model
        from fsa_distill.student.prefixes import task_prefix

        cfg = self.cfg
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / runs.METRICS_FILE).unlink(missing_ok=True)  # an interrupted or different earlier run
        runs.write_config(cfg, self.run_dir)
        train = load_split(cfg.task, cfg.dataset, "train", cfg.data_dir)
        dev = load_split(cfg.task, cfg.dataset, "dev", cfg.data_dir)
        self.all_labelled = train + dev  # the ACSA category inventory (entity x attribute)
        if cfg.train.data_fraction < 1:
            train = random.Random(cfg.seed).sample(train, max(1, int(len(train) * cfg.train.data_fraction)))
        self.train_examples = train[:cfg.train.train_limit] if cfg.train.train_limit else train
        self.dev = dev[:cfg.train.dev_limit] if cfg.train.dev_limit else dev
        set_seed(cfg.seed)
        self.family = resolve_family(cfg)
        self.prefix = task_prefix(cfg.task, cfg.prefix)
        if cfg.train.head_learning_rate is not None and self.family != "extractive":
            raise FsaError("train.head_learning_rate: only an extractive student has task heads of its own "
                           f"({cfg.model} is {self.family})")
        if self.prefix and self.family == "extractive":
            raise FsaError(f"prefix {cfg.prefix!r}: input prefixes are for generative students; an extractive "
                           "student reads the sentence itself")
        base = resolve_model(cfg.model)
        self.meta = {"family": self.family, "base_model_meta": read_meta(base) if Path(base).is_dir() else {},
                     **({"input_prefix": self.prefix} if self.prefix else {})}
        self.model, self.tokenizer, self.train_ds = self._extractive(base) if self.family == "extractive" \
            else self._generative()
        self.timing["load_s"] = time.perf_counter() - self.t0

    def _generative(self):
        from fsa_distill.models import load_student

        model, tokenizer = load_student(self.cfg.model)
        return model, tokenizer, tokenize_pairs(tokenizer, *self.task_pairs(self.train_examples))

    def task_pairs(self, examples) -> tuple[list[str], list[str]]:
        """(prefixed sentence, target string) pairs for a generative student."""
        from fsa_distill.student.prefixes import apply_prefix

        sources, targets = build_pairs(self.cfg.task, examples)
        return apply_prefix(sources, self.prefix), targets

    def _extractive(self, base: str):
        """A tagger for this task: a tagger folder for the same task and labels goes on training;
        anything else gives its encoder to new heads (models/tagger.py)."""
        import datasets

        from transformers import AutoTokenizer

        from fsa_distill.decoding.tags import category_inventory
        from fsa_distill.models.tagger import encoder_of, for_task, is_tagger_folder, load_tagger
        from fsa_distill.student.tagging import tagger_features

        cfg = self.cfg
        categories = category_inventory(self.all_labelled) if cfg.task == "acsa" else []
        if is_tagger_folder(base):  # a tagger goes on training; other heads are replaced
            model, tokenizer = load_tagger(base), AutoTokenizer.from_pretrained(base)
            if (model.config.task, list(model.config.categories)) != (cfg.task, categories):
                model = for_task(model.encoder, cfg.task, categories, seed=cfg.seed)
        else:
            encoder, tokenizer = encoder_of(base)
            model = for_task(encoder, cfg.task, categories, seed=cfg.seed)
        features = tagger_features(tokenizer, cfg.task, self.train_examples, categories)
        return model, tokenizer, datasets.Dataset.from_list(features)

    def trainer(self, best_dir: Path | None):
        import torch
        from transformers import (
            DataCollatorForSeq2Seq,
            Seq2SeqTrainer,
            Seq2SeqTrainingArguments,
        )

        from fsa_distill.models import use_bf16
        from fsa_distill.student.tagging import TaggerCollator

        cfg, tr = self.cfg, self.cfg.train
        self.selection = DevSelection(cfg, self.tokenizer, self.dev, best_dir, self.progress, self.meta)
        self.bf16 = use_bf16(tr.precision, "train.precision")
        args = Seq2SeqTrainingArguments(
            output_dir=str(self.run_dir / "trainer"), per_device_train_batch_size=tr.batch_size,
            num_train_epochs=tr.epochs, max_steps=tr.max_steps, learning_rate=tr.learning_rate,
            lr_scheduler_type=tr.lr_scheduler, warmup_steps=warmup_steps(cfg, len(self.train_ds)),
            max_grad_norm=tr.max_grad_norm, bf16=self.bf16, seed=cfg.seed, eval_strategy="no", save_strategy="no",
            logging_steps=tr.logging_steps, report_to=[], disable_tqdm=not self.progress,
            dataloader_num_workers=0, dataloader_pin_memory=torch.cuda.is_available(),
            remove_unused_columns=False, **sampling_args(tr.length_grouping))
        if tr.freeze_embeddings:  # the 30k-word table: most of the encoder's parameters, rarely worth moving
            self.model.get_input_embeddings().weight.requires_grad_(False)
        # The reference decays every parameter (no bias/LayerNorm exclusion): build the optimizer ourselves.
        optimizer = torch.optim.AdamW(self.param_groups(), lr=tr.learning_rate, weight_decay=tr.weight_decay,
                                      eps=tr.adam_epsilon)
        collator = TaggerCollator(self.tokenizer.pad_token_id) if self.family == "extractive" else \
            DataCollatorForSeq2Seq(self.tokenizer, model=self.model, label_pad_token_id=-100)
        # Seq2SeqTrainer is a Trainer: with no generation asked of it, it trains a tagger the same way.
        return Seq2SeqTrainer(model=self.model, args=args, train_dataset=self.train_ds, data_collator=collator,
                              processing_class=self.tokenizer, optimizers=(optimizer, None),
                              callbacks=[self.selection.callback])

    def param_groups(self) -> list[dict]:
        """What the optimizer moves: every trainable parameter at `learning_rate`, the tagger's task
        heads (everything outside its encoder) at `head_learning_rate` where one is set."""
        params = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        head_lr = self.cfg.train.head_learning_rate
        if head_lr is None:
            return [{"params": [p for _, p in params]}]
        return [{"params": [p for n, p in params if n.startswith("encoder.")]},
                {"params": [p for n, p in params if not n.startswith("encoder.")], "lr": head_lr}]

    def train(self) -> None:
        """Train, selecting on dev as it goes (and once at the end)."""
        self.best_dir = self.run_dir / "best_model" if self.cfg.save_model else None
        self.hf_trainer = self.trainer(self.best_dir)
        t1 = time.perf_counter()
        self.train_out = self.hf_trainer.train()
        self.timing["train_s"] = time.perf_counter() - t1 - self.selection.eval_seconds
        self.timing["dev_eval_s"] = self.selection.eval_seconds
        if not self.selection.curve:  # fewer steps than one evaluation: still select on dev once
            self.selection.evaluate(self.hf_trainer.model, self.hf_trainer.state)
        runs.write_curve(self.run_dir, "dev_curve", self.selection.curve)

    def evaluate(self) -> None:
        """The best dev model on every view of test+hard, once, through the Student interface."""
        from fsa_distill.evaluation.evaluate import evaluate_views
        from fsa_distill.inference.student import load, wrap

        cfg = self.cfg
        device = str(self.hf_trainer.args.device)
        if self.best_dir is not None:
            self.student = load(str(self.best_dir), device=device)
        else:
            self.model.load_state_dict(self.selection.best_state)
            self.student = wrap(self.model.to(device), self.tokenizer, task=cfg.task, meta=self.meta,
                                decode=cfg.decode)
        t2 = time.perf_counter()
        self.scores = evaluate_views(self.student, cfg.task, cfg.dataset, self.run_dir / "eval", views=cfg.views,
                                     data_dir=cfg.data_dir, limit=cfg.test_limit, progress=self.progress)
        self.timing["test_eval_s"] = time.perf_counter() - t2
        self.timing["total_s"] = time.perf_counter() - self.t0

    def extra_info(self) -> dict:
        """What a subclass adds to run_info.json (the multi-task recipe: its streams)."""
        return {}

    def save(self) -> dict:
        """run_info.json and metrics.json (last), the model card; the trainer's scratch folder goes."""
        cfg, sel, metrics = self.cfg, self.selection, self.scores.metrics
        info = {"kind": "finetune", "label": cfg.label or cfg.model, "family": self.family, "task": cfg.task,
                "dataset": cfg.dataset, "seed": cfg.seed, "model": cfg.model,
                "data_fraction": cfg.train.data_fraction, "parameters": self.student.parameters(),
                "train_sentences": len(self.train_examples), "dev_sentences": len(self.dev),
                "steps": self.hf_trainer.state.global_step, "train_loss": self.train_out.training_loss,
                "bf16": self.bf16, "best_epoch": sel.best_epoch, "best_dev_f1": sel.best_f1, **sel.convergence(),
                "timing": self.timing, "generation": self.scores.timing,
                "unavailable_views": self.scores.unavailable, "environment": environment_info(),
                **self.extra_info()}
        if self.best_dir is not None:
            write_finetune_card(self.best_dir, cfg, self.meta, metrics, info)
        runs.write_run_record(self.run_dir, info, metrics)
        shutil.rmtree(self.run_dir / "trainer", ignore_errors=True)  # nothing is kept there
        return {"run_dir": str(self.run_dir), "metrics": metrics, "info": info}
