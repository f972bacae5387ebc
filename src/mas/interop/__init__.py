"""Exchange with other interpretability libraries: pyvene interventions, counterfactual datasets.

Each module imports its library only when used, so `mas` works without them.
"""
