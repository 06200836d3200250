"""Students: building and loading seq2seq models, distillation pretraining, fine-tuning."""
