"""One exception type for every problem caused by the user's input.

The command line turns a `MasError` into a one-line message and a non-zero exit; anything else is
a bug and keeps its traceback.
"""

# Seeds are refused outside [0, SEED_LIMIT): numpy's and torch's generators take no others.
SEED_LIMIT = 2**63


class MasError(Exception):
    """Bad input: unknown task or site, a corrupt checkpoint, an empty dataset, NaN activations."""
