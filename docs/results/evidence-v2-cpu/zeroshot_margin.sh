#!/usr/bin/env bash
# Zero-shot diagnosis (H5): the label-word margin's ROC AUC of the plain student and of two re-made
# pretrainings (distilled seed 42, prefixed seed 52 — the one zero-shot model above majority),
# from their recorded configs. One thread, niced: it runs beside the full-rest14 pair.
set -euxo pipefail  # bash docs/results/evidence-v2-cpu/zeroshot_margin.sh (from any folder)
cd "$(dirname "$0")/../../.."
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
R=docs/results/evidence-v2-cpu/runs; D=runs/diag
zs() { # recorded zero-shot config, output, model
  python -m fsa_distill.cli zeroshot "$1" output_dir="$2" model="$3" 'methods=[label-words]' --quiet; }
for ds in sst2 yelp2 teacher-heldout; do
  zs $(ls -d $R/zeroshot/baseline/$ds-*)/config.yaml $D/zs-baseline-$ds minilm
done
python -m fsa_distill.cli generate $R/generate-67bcd2e2a5/config.yaml output_dir=$D/generate --quiet
for p in d42:1476daf6a8:distilled:1476daf6a8 p52:bcce12e768:prefixed:bcce12e768; do
  IFS=: read name hash variant _ <<<"$p"
  python -m fsa_distill.cli pretrain $R/pretrain-$hash/config.yaml output_dir=$D/pretrain-$name \
    "data.corpus=[$D/generate/corpus.jsonl]" --quiet
  for ds in sst2 yelp2 teacher-heldout; do
    cfg=$(grep -l "pretrain-$hash" $R/zeroshot/$variant/$ds-*/config.yaml)
    zs $cfg $D/zs-$name-$ds $D/pretrain-$name/final_model
  done
done
echo DIAG DONE
