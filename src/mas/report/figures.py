"""Where each figure's run folder keeps its outputs, the command that makes it, and the paper's claims on it.

Claims read the figure's results JSON and collect one value per run (per model pair, seed or
direction, whichever the figure repeats), so the same code judges a figure run with one seed or
with many; see `mas.report.verdict` for the rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import Callable

from mas.experiments.figure_2ab import bar_values
from mas.experiments.figure_2d import paired_gaps
from mas.experiments.figure_3a import chosen_rows
from mas.experiments.outputs import OUTPUTS, FigureOutputs
from mas.report.verdict import Claim

# "MAS close to DAS": the largest gap in IIA (DAS minus MAS, same model pair and seed) still called close.
CLOSE = 0.05
# "DAS ≥ MAS" (non-inferiority): how far MAS may lie above DAS before the claim fails.
MARGIN = 0.02


@dataclass(frozen=True)
class FigureSpec:
    """A figure, its run folder and files (declared once in `mas.experiments.outputs`), the command that
    makes it, and its claims."""

    name: str
    title: str
    claims: Callable[[dict], list[Claim]]

    @property
    def outputs(self) -> FigureOutputs:
        return OUTPUTS[self.name]

    @property
    def command(self) -> str:
        return f"mas figure {self.name}"


def _claims_2ab(results: dict) -> list[Claim]:
    rows = results["rows"]

    def cross(panel: str, site: str, measure: str) -> list[float]:
        return bar_values(rows, panel, site, measure)

    mas_label = "MAS IIA, cross (one value per model pair and seed)"
    cka_label, rsa_label = "linear CKA, cross (per pair and subsample)", "RSA, cross (per pair and subsample)"
    claims = [
        Claim("2a", "GRU–GRU embeddings: MAS shows high causal transfer where RSA gives a low estimate",
              mas_label, cross("a", "embeddings", "mas_iia"), "above", rsa_label, cross("a", "embeddings", "rsa_cosine_spearman")),
        Claim("2b", "GRU–Transformer embeddings: the same effect as in (a), MAS above RSA",
              mas_label, cross("b", "embeddings", "mas_iia"), "above", rsa_label, cross("b", "embeddings", "rsa_cosine_spearman")),
        Claim("2b", "GRU–Transformer hidden states: MAS IIA is low although CKA looks high",
              mas_label, cross("b", "hidden", "mas_iia"), "below", cka_label, cross("b", "hidden", "cka_linear")),
        Claim("2b", "GRU–Transformer hidden states: MAS IIA is low although RSA looks high",
              mas_label, cross("b", "hidden", "mas_iia"), "below", rsa_label, cross("b", "hidden", "rsa_cosine_spearman")),
    ]
    site = next((r["site_b"] for r in rows if r["panel"] == "b2"), None)
    if site is None:
        return claims
    where = f"GRU hidden state against the transformer's {site}, where DAS within the transformer works"
    return claims + [
        Claim("2b′", f"{where}: MAS IIA is low although CKA looks high",
              mas_label, cross("b2", "hidden", "mas_iia"), "below", cka_label, cross("b2", "hidden", "cka_linear")),
        Claim("2b′", f"{where}: MAS IIA is low although RSA looks high",
              mas_label, cross("b2", "hidden", "mas_iia"), "below", rsa_label, cross("b2", "hidden", "rsa_cosine_spearman")),
    ]


def _claims_2c(results: dict) -> list[Claim]:
    """On the joint run of all models and, where run, on the pairwise runs (one per model pair, the reference's way).

    Beside the paper's claim, the check it rests on: trained rotations beat untrained ones on the same
    cross-model directions (paired, trained − control). Where they do not, a gap between the groups
    comes from the models themselves, not from anything the alignment found.
    """
    runs = [("", "token_matrix", "control_token_matrix"),
            (" (pairwise runs)", "pairwise_token_matrix", "pairwise_control_token_matrix")]
    names = results["models"]
    group = [name.split("-")[0] for name in names]
    cross = [(s, t) for s, t in product(range(len(names)), repeat=2) if s != t]
    claims = []
    for how, key, control_key in runs:
        if key not in results:
            continue
        matrix = results[key]
        cells: dict[str, list[float]] = {"same": [], "mixed": []}
        for s, t in cross:
            if "toxic" in (group[s], group[t]):
                cells["same" if group[s] == group[t] else "mixed"].append(matrix[s][t])
        claims.append(Claim("2c", f"Toxic fine-tunes have higher IIA with each other than with non-toxic ones{how}",
                            f"token IIA, toxic ↔ toxic{how} (one value per direction)", cells["same"], "above",
                            f"token IIA, toxic ↔ non-toxic{how}", cells["mixed"]))
        if control_key in results:
            control = results[control_key]
            claims.append(Claim("2c", f"The trained rotations beat untrained ones across models{how}",
                                f"token IIA, trained − untrained rotations, same direction{how}",
                                [matrix[s][t] - control[s][t] for s, t in cross], "above", "no gain", 0.0))
    return claims


def _claims_2d(results: dict) -> list[Claim]:
    """Non-inferiority (DAS ≥ MAS) and closeness (|DAS − MAS| ≤ CLOSE from k = 4) on paired differences,
    one per model pair and seed; the bootstrap resamples model pairs, then runs within each."""
    label = "DAS − MAS IIA, same model pair and seed"
    claims = []
    for k, gaps in paired_gaps(results["rows"]).items():
        values, pairs = [g for _, g in gaps], [p for p, _ in gaps]
        claims.append(Claim("2d", f"DAS is at least MAS at k = {k}", label, values, "at_least",
                            "non-inferiority margin", MARGIN, ours_groups=pairs))
        if k >= 4:
            claims.append(Claim("2d", f"MAS is close to DAS from about k = 4 (here k = {k})", label, values, "within",
                                "closeness tolerance", CLOSE, ours_groups=pairs))
    return claims


def _claims_3a(results: dict) -> list[Claim]:
    """CLMAS at the (ε, k) chosen on No Access validation against each orthogonal stitch, No Access."""
    choice = results["choices"]["clmas"]
    clmas = chosen_rows(results["rows"], "clmas", choice)
    claims = []
    for method, label in (("latent_stitch", "latent stitching"), ("behavioural_stitch", "behavioural stitching")):
        other = chosen_rows(results["rows"], method, None)
        claims.append(Claim("3a", f"CLMAS is best in the No Access direction (against {label})",
                            f"CLMAS IIA, No Access, ε {choice['epsilon']:g}, k {choice['k']} (one value per run)",
                            [r["no_access"] for r in clmas], "above", f"{label} (orthogonal), No Access",
                            [r["no_access"] for r in other], ours_groups=[r["pair"] for r in clmas],
                            other_groups=[r["pair"] for r in other]))
    return claims


def _claims_3b(results: dict) -> list[Claim]:
    """Non-inferiority (DAS within the family ≥ the transfer into it) on paired differences, one per model pair and
    seed; the bootstrap resamples model pairs, then seeds. Supplementary bars are not judged."""
    rows = [r for r in results["rows"] if not r.get("supplementary")]
    claims = []
    for family in dict.fromkeys(r["family"] for r in rows):
        mine = [r for r in rows if r["family"] == family]
        name = family.replace("_", "-")
        claims.append(Claim("3b", f"DAS within the {name} GRU bounds the transfer into it",
                            f"DAS ({mine[0]['variable']}) − MAS Multi-Object → {name}, same model pair and seed",
                            [r["das_family"] - r["ref->family"] for r in mine], "at_least",
                            "non-inferiority margin", MARGIN, ours_groups=[r.get("pair", "") for r in mine]))
    return claims


FIGURES = (
    FigureSpec("2ab", "Figures 2a/2b: MAS beside CKA and RSA", _claims_2ab),
    FigureSpec("2c", "Figure 2c: toxic and non-toxic fine-tunes", _claims_2c),
    FigureSpec("2d", "Figure 2d: IIA against k (DAS, MAS) and rank (stitching)", _claims_2d),
    FigureSpec("3a", "Figure 3a: one model cannot be intervened on", _claims_3a),
    FigureSpec("3b", "Figure 3b: transfer of the count across task families", _claims_3b),
)
