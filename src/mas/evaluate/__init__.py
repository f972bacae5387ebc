"""IIA (trial and token), direction matrices and controls."""

from mas.evaluate.iia import Score, evaluate_iia, iia_matrix, random_rotation_control, scores_json

__all__ = ["Score", "evaluate_iia", "iia_matrix", "random_rotation_control", "scores_json"]
