"""The teacher stage: prompt an LLM about each review and keep what it writes as the corpus.

    reviews.py      read, clean, leak-guard and sample reviews
    prompts.py      the versioned analysis and rewrite prompts (chat and few-shot completion)
    backends/       openai (any compatible server), transformers, llama-cpp, replay
    postprocess.py  strip junk, parse analyses, checks that drop or flag answers
    corpus.py       the append-only, fsync'ed, resumable corpus file
    generate.py     corpus generation: generate_corpus(cfg) and generate_shard(cfg, reviews, path)
    ray_generate.py the same, sharded over a Ray cluster (ray_cluster.py joins it)
    commands.py     `fsa-distill generate`
"""
