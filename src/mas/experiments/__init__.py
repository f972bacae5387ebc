"""One module per experiment: each figure of the paper, and the runs behind `mas align`, `mas similarity` and `mas clmas`."""
