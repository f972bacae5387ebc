"""Language-model side of `mas`: stepwise LM pairs, text sets, fine-tuning, the shipped SmolLM2.

Only the light modules are imported here; `mas.lm.finetune` (and `mas.adapters.hf`) import
transformers and are imported where they are used.
"""

from mas.lm.data import insults_csv, load_texts, unescape
from mas.lm.pairs import build_lm_pair_sets, build_lm_pairs, greedy_next, tokenize_exact
from mas.lm.smollm2 import smollm2_gguf

__all__ = [
    "build_lm_pair_sets",
    "build_lm_pairs",
    "greedy_next",
    "insults_csv",
    "load_texts",
    "smollm2_gguf",
    "tokenize_exact",
    "unescape",
]
