"""IIA (trial and token), direction matrices, controls and bootstrap intervals."""

from mas.evaluate.bootstrap import Interval, bootstrap_interval
from mas.evaluate.iia import Score, evaluate_iia, iia_matrix, random_rotation_control, scores_json

__all__ = ["Interval", "Score", "bootstrap_interval", "evaluate_iia", "iia_matrix", "random_rotation_control", "scores_json"]
