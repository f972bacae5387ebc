"""The report: finished figures gathered on one page, with the paper's claims judged against them."""

from mas.report.figures import FIGURES, FigureSpec
from mas.report.page import collect, describe, render
from mas.report.verdict import Claim, verdict

__all__ = ["FIGURES", "Claim", "FigureSpec", "collect", "describe", "render", "verdict"]
