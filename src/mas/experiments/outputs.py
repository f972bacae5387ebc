"""The files of each figure's run folder, named once: the experiment that writes them, the command
that prints where they are and the report that reads them all take the names from here.

Names are kept as first written (`results.json` beside `figure_2d.json`, `figure 2ab` beside
`figure_2d` as run markers), so run folders written before still resume and still report.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FigureOutputs:
    """A figure's run folder (its default name under the runs folder) and the files in it."""

    folder: str
    marker: str  # the command its run marker names
    results: str  # JSON: the numbers the figure's claims are judged on
    png: str
    csv: str


OUTPUTS: dict[str, FigureOutputs] = {
    "2ab": FigureOutputs("figure_2ab", "figure 2ab", "results.json", "figure_2ab.png", "table.csv"),
    "2c": FigureOutputs("figure_2c", "figure 2c", "results.json", "figure_2c.png", "iia.csv"),
    "2d": FigureOutputs("figure_2d", "figure_2d", "figure_2d.json", "figure_2d.png", "figure_2d.csv"),
    "3a": FigureOutputs("figure_3a", "figure_3a", "figure_3a.json", "figure_3a.png", "figure_3a.csv"),
    "3b": FigureOutputs("figure_3b", "figure 3b", "results.json", "figure_3b.png", "table.csv"),
}
"""Figure name (as in `mas figure NAME`) → its outputs."""
