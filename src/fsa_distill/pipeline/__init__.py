"""`fsa-distill run`: the whole method from one YAML file (generate → pretrain → finetune × seeds → report)."""
