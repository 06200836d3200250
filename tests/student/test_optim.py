"""AdamWScale against a by-hand computation, and the schedule against the reference's numbers."""

import math

import pytest
import torch

from fsa_distill.errors import FsaError
from fsa_distill.student.optim import AdamWScale, build_optimizer, build_scheduler, lr_at, param_groups


def _by_hand(p0, grads, lr, eps=1e-6, betas=(0.9, 0.999)):
    """nanoT5's update rule written out in plain Python floats for a 2-element tensor."""
    p = list(p0)
    m = [0.0, 0.0]
    v = [0.0, 0.0]
    for t, g in enumerate(grads, 1):
        rms = math.sqrt(sum(x * x for x in p) / len(p))
        step = lr * math.sqrt(1 - betas[1] ** t) / (1 - betas[0] ** t) * max(1e-3, rms)
        for i in range(len(p)):
            m[i] = betas[0] * m[i] + (1 - betas[0]) * g[i]
            v[i] = betas[1] * v[i] + (1 - betas[1]) * g[i] ** 2
            p[i] -= step * m[i] / (math.sqrt(v[i]) + eps)
    return p


def test_adamw_scale_matches_the_update_rule():
    p0, grads = [0.5, -2.0], [[0.1, -0.3], [0.2, 0.05], [-0.4, 0.0]]
    p = torch.nn.Parameter(torch.tensor(p0, dtype=torch.float64))
    opt = AdamWScale([p], lr=3e-3)
    for g in grads:
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
    assert p.detach().tolist() == pytest.approx(_by_hand(p0, grads, 3e-3), rel=1e-12, abs=1e-15)


def test_adamw_scale_step_scales_with_parameter_rms_with_a_floor():
    # Same gradient, parameters 100x apart in size: the big one moves 100x more...
    big = torch.nn.Parameter(torch.full((4,), 1.0))
    small = torch.nn.Parameter(torch.full((4,), 0.01))
    tiny = torch.nn.Parameter(torch.full((4,), 1e-6))  # ...and below RMS 1e-3 the floor holds
    opt = AdamWScale([big, small, tiny], lr=1e-2)
    for q in (big, small, tiny):
        q.grad = torch.ones(4)
    before = [q.detach().clone() for q in (big, small, tiny)]
    opt.step()
    moves = [(b - q.detach()).abs().mean().item() for b, q in zip(before, (big, small, tiny))]
    assert moves[0] / moves[1] == pytest.approx(100, rel=1e-4)
    assert moves[2] == pytest.approx(1e-2 * 1e-3, rel=1e-4)


def test_adamw_scale_weight_decay_applies_after_the_step_and_zero_decay_is_pure_adam():
    p = torch.nn.Parameter(torch.tensor([1.0, 1.0]))
    opt = AdamWScale([p], lr=0.1, weight_decay=0.5)
    p.grad = torch.zeros(2)
    opt.step()  # zero gradient: only the decay moves p
    assert p.detach().tolist() == pytest.approx([0.95, 0.95])


def test_param_groups_exempt_bias_and_layer_norm():
    from transformers import T5Config, T5ForConditionalGeneration

    model = T5ForConditionalGeneration(T5Config(vocab_size=50, d_model=8, d_kv=4, d_ff=16, num_layers=1,
                                                num_decoder_layers=1, num_heads=2))
    decay, no_decay = param_groups(model, 0.01)
    names = {id(p): n for n, p in model.named_parameters()}
    assert all("layer_norm" in names[id(p)] for p in no_decay["params"]) and no_decay["params"]
    assert no_decay["weight_decay"] == 0.0 and decay["weight_decay"] == 0.01
    assert isinstance(build_optimizer(model, "adamw", 1e-3), torch.optim.AdamW)
    with pytest.raises(FsaError):
        build_optimizer(model, "sgd", 1e-3)


# docs/reference.md §1a: the reference's effective lr, simulated from torch 2.1's scheduler logic.
REFERENCE_EFFECTIVE = {0: 1.5e-3, 50_000: 1.28e-3, 100_000: 7.55e-4, 150_000: 2.28e-4, 200_000: 1e-5}


@pytest.mark.parametrize("step,expected", sorted(REFERENCE_EFFECTIVE.items()))
def test_reference_lr_quirk_reproduces_the_reference_curve(step, expected):
    got = lr_at(step, lr=3e-3, total_steps=200_000, final_lr=1e-5, reference_lr_quirk=True)
    assert got == pytest.approx(expected, rel=5e-3)  # the doc gives 3 significant digits


def test_default_schedule_starts_at_the_nominal_lr():
    kw = dict(lr=3e-3, total_steps=200_000, final_lr=1e-5)
    assert lr_at(0, **kw) == pytest.approx(3e-3)
    assert lr_at(100_000, **kw) == pytest.approx((3e-3 + 1e-5) / 2)
    assert lr_at(200_000, **kw) == pytest.approx(1e-5)
    assert lr_at(250_000, **kw) == pytest.approx(1e-5)  # stays at the floor past the end


def test_warmup_then_cosine_over_the_remaining_steps():
    kw = dict(lr=1e-3, total_steps=110, final_lr=0.0, warmup_steps=10)
    assert lr_at(0, **kw) == 0.0 and lr_at(5, **kw) == pytest.approx(5e-4)
    assert lr_at(10, **kw) == pytest.approx(1e-3) and lr_at(60, **kw) == pytest.approx(5e-4)


def test_scheduler_matches_the_reference_construction_on_current_torch():
    """Without the quirk, our LambdaLR equals the reference's SequentialLR construction as torch 2.2+
    runs it (newer torch no longer keeps LinearLR's 0.5; torch 2.1, the reference's, did: that is
    the quirk, checked against the reference's numbers above)."""
    from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, SequentialLR

    total = 40
    p = torch.nn.Parameter(torch.zeros(1))
    ours_opt = AdamWScale([p], lr=3e-3)
    ours = build_scheduler(ours_opt, total_steps=total, final_lr=1e-5)
    ref_opt = AdamWScale([torch.nn.Parameter(torch.zeros(1))], lr=3e-3)
    ref = SequentialLR(ref_opt, [LinearLR(ref_opt, start_factor=0.5, end_factor=1, total_iters=0),
                                 CosineAnnealingLR(ref_opt, T_max=total, eta_min=1e-5)], milestones=[0])
    for _ in range(total + 1):
        assert ours_opt.param_groups[0]["lr"] == pytest.approx(ref_opt.param_groups[0]["lr"], rel=1e-9, abs=1e-12)
        ours_opt.step()
        ref_opt.step()
        ours.step()
        ref.step()


def test_scheduler_rejects_a_floor_above_the_lr():
    opt = AdamWScale([torch.nn.Parameter(torch.zeros(1))], lr=1e-5)
    with pytest.raises(FsaError):
        build_scheduler(opt, total_steps=10, final_lr=1e-3)
