"""Write the shipped `capitals` pair file, and measure how well SmolLM2-135M-Instruct answers its prompts.

Each pair asks for the capital of two different countries; the country span is marked in both
prompts, and `expected` is the capital of the source's country, so an intervention at the country
token that carries the country over should make the base answer with the source's capital. The
file is drawn from a fixed seed, so running this again writes the same file.

    python scripts/capital_pairs.py                 # (re)write src/mas/lm/examples/capitals.jsonl
    python scripts/capital_pairs.py --measure       # also: SmolLM2's accuracy on the plain prompts
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np

TEMPLATE = "Q: What is the capital of {}?\nA: The capital is"
OUT = Path(__file__).resolve().parents[1] / "src" / "mas" / "lm" / "examples" / "capitals.jsonl"
CAPITALS = {
    "France": "Paris", "Japan": "Tokyo", "Italy": "Rome", "Germany": "Berlin", "Spain": "Madrid",
    "Russia": "Moscow", "Egypt": "Cairo", "China": "Beijing", "England": "London", "Greece": "Athens",
    "Portugal": "Lisbon", "Austria": "Vienna", "Norway": "Oslo", "Sweden": "Stockholm", "Poland": "Warsaw",
    "Ireland": "Dublin", "Cuba": "Havana", "Peru": "Lima", "Kenya": "Nairobi", "Thailand": "Bangkok",
    "Canada": "Ottawa", "Hungary": "Budapest", "Finland": "Helsinki", "Denmark": "Copenhagen",
    "Belgium": "Brussels", "Netherlands": "Amsterdam", "Turkey": "Ankara", "Iran": "Tehran",
    "Argentina": "Buenos Aires", "Mexico": "Mexico City", "India": "New Delhi", "Australia": "Canberra",
    "Chile": "Santiago", "Colombia": "Bogota", "Vietnam": "Hanoi", "Indonesia": "Jakarta",
    "Philippines": "Manila", "Ukraine": "Kyiv", "Switzerland": "Bern", "Czech Republic": "Prague",
    "Romania": "Bucharest", "Bulgaria": "Sofia", "Serbia": "Belgrade", "Iraq": "Baghdad", "Syria": "Damascus",
    "Lebanon": "Beirut", "Saudi Arabia": "Riyadh", "Pakistan": "Islamabad", "Bangladesh": "Dhaka",
    "Nepal": "Kathmandu", "South Korea": "Seoul", "North Korea": "Pyongyang", "Venezuela": "Caracas",
    "Ethiopia": "Addis Ababa", "Nigeria": "Abuja", "Morocco": "Rabat", "Ghana": "Accra", "Scotland": "Edinburgh",
    "Iceland": "Reykjavik", "Brazil": "Brasilia",
}


def pairs(n: int, seed: int) -> list[dict]:
    """`n` pairs of two different countries, drawn with `seed`."""
    countries = list(CAPITALS)
    rng = np.random.default_rng(seed)
    records = []
    for _ in range(n):
        base, source = rng.choice(len(countries), size=2, replace=False)
        records.append({
            "base": TEMPLATE.format(f"[[{countries[base]}]]"),
            "source": TEMPLATE.format(f"[[{countries[source]}]]"),
            "expected": " " + CAPITALS[countries[source]],
        })
    return records


def country_of(text: str) -> str:
    return text[text.index("[[") + 2 : text.index("]]")]


def measure(records: list[dict]) -> dict:
    """SmolLM2's greedy answers on each country's plain prompt, weighted by how often the file uses it.

    A prompt counts for the first token when the model's argmax next token is the capital's first
    token, and for the whole answer when every token of the capital is the argmax (teacher-forced).
    """
    import torch

    from mas.adapters.hf import load_causal_lm, load_tokenizer
    from mas.lm.smollm2 import smollm2_gguf

    tokenizer = load_tokenizer(smollm2_gguf())
    model = load_causal_lm(smollm2_gguf(), None, torch.float32, True).eval()
    first, whole, answers = {}, {}, {}
    for country, capital in CAPITALS.items():
        prompt = tokenizer(TEMPLATE.format(country))["input_ids"]
        full = tokenizer(TEMPLATE.format(country) + " " + capital)["input_ids"]
        with torch.no_grad():
            guess = model(torch.tensor([full])).logits[0, len(prompt) - 1 : len(full) - 1].argmax(-1).tolist()
        first[country] = guess[0] == full[len(prompt)]
        whole[country] = guess == full[len(prompt) :]
        answers[country] = tokenizer.decode(guess[:1])
    uses = Counter(country_of(r[side]) for r in records for side in ("base", "source"))
    total = sum(uses.values())
    return {
        "countries": len(CAPITALS),
        "first_token_countries": sum(first.values()) / len(CAPITALS),
        "whole_answer_countries": sum(whole.values()) / len(CAPITALS),
        "first_token_file_prompts": sum(uses[c] for c in uses if first[c]) / total,
        "whole_answer_file_prompts": sum(uses[c] for c in uses if whole[c]) / total,
        "file_prompts": total,
        "wrong": {c: answers[c] for c in CAPITALS if not first[c]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--measure", action="store_true", help="load SmolLM2 and score the plain prompts")
    args = parser.parse_args()
    records = pairs(args.pairs, args.seed)
    args.out.write_text("".join(json.dumps(r) + "\n" for r in records))
    print(f"wrote {len(records)} pairs to {args.out}")
    if args.measure:
        print(json.dumps(measure(records), indent=1))


if __name__ == "__main__":
    main()
