"""Training students (what a student *is* lives in `fsa_distill.models`).

    pretrain.py       distillation pretraining: review -> teacher text (PretrainRecipe)
    pretrain_data.py  the teacher corpus read as pretraining pairs: formats, hold-out, mixing, tokenizing
    sampler.py        length-grouped batches and the padding they save
    optim.py          AdamWScale and the reference's cosine schedule
    finetune.py       ATSA/ACSA fine-tuning with dev selection, evaluated on every view (FinetuneRecipe)
    commands.py       `fsa-distill build-student`, `pretrain`, `finetune`
"""
