"""Model Alignment Search: do two neural networks solve a task the same way, causally?"""

__version__ = "0.1.0"
