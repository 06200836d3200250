"""Optimizers and learning-rate schedules for distillation pretraining.

`AdamWScale` is the reference's optimizer (docs/reference.md §1a), which it copied from nanoT5:
Adam with bias correction whose step for each tensor is multiplied by max(1e-3, RMS(tensor)), as
Adafactor does. Scaling by the parameter's own size lets one learning rate (3e-3, ten times what
plain AdamW tolerates on T5) suit embeddings and layer norms alike.

The schedule is a cosine from the start lr down to `final_lr` (1e-5) over the run, with optional
linear warmup. The reference *meant* to start at its nominal 3e-3, but its
SequentialLR(LinearLR(start_factor=0.5, total_iters=0), CosineAnnealingLR) never undoes the 0.5 of
the zero-length warmup, so its effective curve starts at 1.5e-3. `reference_lr_quirk=True`
reproduces that curve on purpose; by default the nominal lr is the start lr.
"""

from __future__ import annotations

import math
from typing import Iterable, Literal

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from fsa_distill.errors import FsaError

OptimizerName = Literal["adamw_scale", "adamw"]


class AdamWScale(Optimizer):
    """Adam with bias correction and an RMS-scaled step (nanoT5's AdamWScale, ported as is).

    Per tensor p, per step t:
        m = b1 m + (1-b1) g;   v = b2 v + (1-b2) g^2
        step = lr * sqrt(1-b2^t) / (1-b1^t) * max(1e-3, RMS(p))
        p -= step * m / (sqrt(v) + eps)
        p -= lr * wd * p                      (decoupled decay, after the update, as in nanoT5)
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-6, weight_decay: float = 0.0, correct_bias: bool = True):
        if lr < 0.0:
            raise ValueError(f"invalid learning rate {lr}")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"invalid betas {betas}")
        if eps < 0.0:
            raise ValueError(f"invalid eps {eps}")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, correct_bias=correct_bias)
        super().__init__(params, defaults)

    @staticmethod
    def _rms(tensor: torch.Tensor) -> torch.Tensor:
        return tensor.norm(2) / (tensor.numel() ** 0.5)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if grad.is_sparse:
                    raise RuntimeError("AdamWScale does not support sparse gradients")
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                state["step"] += 1

                exp_avg.mul_(beta1).add_(grad, alpha=1.0 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
                denom = exp_avg_sq.sqrt().add_(group["eps"])

                step_size = group["lr"]
                if group["correct_bias"]:
                    bias_correction1 = 1.0 - beta1 ** state["step"]
                    bias_correction2 = 1.0 - beta2 ** state["step"]
                    step_size = step_size * math.sqrt(bias_correction2) / bias_correction1
                # The Adafactor idea: move each tensor relative to its own scale.
                step_size = step_size * max(1e-3, self._rms(p).item())
                p.addcdiv_(exp_avg, denom, value=-step_size)

                if group["weight_decay"] > 0.0:
                    p.add_(p, alpha=-group["lr"] * group["weight_decay"])
        return loss


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Two groups as in the reference: biases and layer-norm weights get no decay."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        lname = name.lower()
        (no_decay if name.endswith(".bias") or "layer_norm" in lname or "layernorm" in lname else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(model: torch.nn.Module, name: OptimizerName, lr: float, weight_decay: float = 0.0,
                    betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-6) -> Optimizer:
    groups = param_groups(model, weight_decay)
    if name == "adamw_scale":
        return AdamWScale(groups, lr=lr, betas=betas, eps=eps)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps)
    raise FsaError(f"unknown optimizer {name!r}: expected adamw_scale or adamw")


def lr_at(step: int, *, lr: float, total_steps: int, final_lr: float = 1e-5, warmup_steps: int = 0,
          reference_lr_quirk: bool = False) -> float:
    """The learning rate used for optimizer step `step` (0-based).

    Linear warmup from 0 over `warmup_steps`, then a cosine from the start lr to `final_lr` over the
    remaining steps (the reference's CosineAnnealingLR T_max = total - warmup). The start lr is `lr`,
    or lr/2 under `reference_lr_quirk` (the reference's effective curve, see the module doc).
    """
    start = lr * 0.5 if reference_lr_quirk else lr
    if warmup_steps > 0 and step < warmup_steps:
        return start * step / warmup_steps
    span = max(1, total_steps - warmup_steps)
    t = min(step - warmup_steps, span)
    return final_lr + (start - final_lr) * 0.5 * (1.0 + math.cos(math.pi * t / span))


def build_scheduler(optimizer: Optimizer, *, total_steps: int, final_lr: float = 1e-5, warmup_steps: int = 0,
                    reference_lr_quirk: bool = False) -> LambdaLR:
    """A LambdaLR (stateless apart from its step count, so it resumes exactly) over `lr_at`."""
    nominal = optimizer.param_groups[0]["lr"]
    if nominal <= 0:
        raise FsaError("learning rate must be positive")
    if final_lr > nominal:
        raise FsaError(f"final_lr {final_lr} is above the learning rate {nominal}")

    def factor(step: int) -> float:
        return lr_at(step, lr=nominal, total_steps=total_steps, final_lr=final_lr,
                     warmup_steps=warmup_steps, reference_lr_quirk=reference_lr_quirk) / nominal

    return LambdaLR(optimizer, factor)


def lr_curve(points: Iterable[int], **kwargs) -> list[float]:
    """lr at each step in `points` (for docs and the report's schedule plot)."""
    return [lr_at(p, **kwargs) for p in points]
