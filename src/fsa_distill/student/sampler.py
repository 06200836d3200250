"""Length-grouped batching for seq2seq pretraining, and the collator that pads each batch.

Teacher answers run from a dozen tokens to the 400-token cap. Shuffled batches (the reference)
pad every target to the batch's longest, so most of the decoder's work is padding. Here each epoch
is shuffled, cut into "megabatches" of `group_size` batches, and each megabatch is sorted by
length before it is cut into batches; the batches are then shuffled again. Batches stay random in
content and order but hold pairs of similar length.

The sampler yields indices (a plain `Sampler`), `batch_size` consecutive indices forming one
batch. The Trainer's DataLoader cuts them into batches of that size, and under DDP accelerate
deals whole batches to the ranks, so every rank's batches are length-grouped too. The order
depends only on (seed, epoch), never on the global RNG, so a resumed run sees the same data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch.utils.data import Sampler


class LengthGroupedSampler(Sampler[int]):
    def __init__(self, target_lengths: Sequence[int], source_lengths: Sequence[int] | None = None, *,
                 batch_size: int, seed: int = 0, group_size: int = 64):
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.target_lengths = list(target_lengths)
        self.source_lengths = list(source_lengths) if source_lengths is not None else [0] * len(self.target_lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.group_size = max(1, group_size)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.target_lengths)

    def batches(self, epoch: int | None = None) -> list[list[int]]:
        """The epoch's batches (the last one may be short)."""
        g = torch.Generator()
        g.manual_seed(self.seed * 1_000_003 + (self.epoch if epoch is None else epoch))
        order = torch.randperm(len(self.target_lengths), generator=g).tolist()
        mega = self.batch_size * self.group_size
        batches: list[list[int]] = []
        for start in range(0, len(order), mega):
            # The decoder side dominates the cost (targets are ~3x longer), so sort by target
            # length first and break ties by source length.
            chunk = sorted(order[start:start + mega],
                           key=lambda i: (self.target_lengths[i], self.source_lengths[i]), reverse=True)
            batches += [chunk[i:i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        # A short batch must stay last so that every earlier batch is full-size when the DataLoader
        # cuts the flat index stream into batches again.
        short = [b for b in batches if len(b) < self.batch_size]
        full = [b for b in batches if len(b) == self.batch_size]
        perm = torch.randperm(len(full), generator=g).tolist()
        full = [full[i] for i in perm]
        if full:
            # The longest batch first: if anything runs out of memory, it does at step one.
            longest = max(range(len(full)), key=lambda i: self.target_lengths[full[i][0]])
            full[0], full[longest] = full[longest], full[0]
        return full + short

    def __iter__(self):
        for batch in self.batches():
            yield from batch


def shuffled_batches(n: int, batch_size: int, seed: int, epoch: int = 0) -> list[list[int]]:
    """The reference's batching (DataLoader shuffle=True): random batches, for comparison."""
    g = torch.Generator()
    g.manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(n, generator=g).tolist()
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


@dataclass
class PaddingStats:
    source_fraction: float
    target_fraction: float
    fraction: float  # over source and target slots together

    def as_dict(self) -> dict:
        return {"padding_fraction": round(self.fraction, 4),
                "padding_fraction_source": round(self.source_fraction, 4),
                "padding_fraction_target": round(self.target_fraction, 4)}


def padding_stats(batches: Sequence[Sequence[int]], source_lengths: Sequence[int],
                  target_lengths: Sequence[int]) -> PaddingStats:
    """Share of padded slots when each batch is padded to its own longest source and target."""
    real_s = real_t = slots_s = slots_t = 0
    for b in batches:
        if not b:
            continue
        s = [source_lengths[i] for i in b]
        t = [target_lengths[i] for i in b]
        real_s += sum(s)
        real_t += sum(t)
        slots_s += max(s) * len(b)
        slots_t += max(t) * len(b)
    frac = lambda real, slots: 1.0 - real / slots if slots else 0.0  # noqa: E731
    return PaddingStats(frac(real_s, slots_s), frac(real_t, slots_t), frac(real_s + real_t, slots_s + slots_t))


class Seq2SeqCollator:
    """Pad input_ids (with an attention mask) and labels (with -100) to the batch's longest.

    The model shifts the labels right into decoder inputs itself.

    `pad_to` = (source, target) pads to fixed lengths first and then trims to the batch's longest
    real length, which is what the reference's collator does; the result is the same tensors, so
    it exists only so the benchmark can time the reference's work faithfully.
    """

    def __init__(self, pad_token_id: int, pad_to: tuple[int, int] | None = None):
        self.pad = pad_token_id
        self.pad_to = pad_to

    def _stack(self, seqs: list[list[int]], value: int, width: int) -> torch.Tensor:
        out = torch.full((len(seqs), width), value, dtype=torch.long)
        for row, s in enumerate(seqs):
            out[row, :len(s)] = torch.tensor(s, dtype=torch.long)
        return out

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        src = [f["input_ids"] for f in features]
        tgt = [f["labels"] for f in features]
        if self.pad_to is not None:
            input_ids = self._stack(src, self.pad, self.pad_to[0])
            labels = self._stack(tgt, -100, self.pad_to[1])
            input_ids = input_ids[:, :max(len(s) for s in src)]
            labels = labels[:, :max(len(t) for t in tgt)]
        else:
            input_ids = self._stack(src, self.pad, max(len(s) for s in src))
            labels = self._stack(tgt, -100, max(len(t) for t in tgt))
        attention_mask = (torch.arange(input_ids.shape[1])[None, :]
                          < torch.tensor([len(s) for s in src])[:, None]).long()
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
