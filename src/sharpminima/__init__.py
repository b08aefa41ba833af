"""sharpminima: reproduce Keskar et al. 2017 (large-batch training converges to sharp minima)."""

__version__ = "0.1.0"
