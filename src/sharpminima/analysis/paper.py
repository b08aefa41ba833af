"""The paper's own numbers (Keskar et al. 2017, ICLR, arXiv:1609.04836v2), for side-by-side tables.

Values are mean and standard deviation over 5 runs, transcribed from Tables 2, 3 and 4.
"""

from __future__ import annotations

# Table 2: accuracy in %: (train SB, train LB, test SB, test LB), each (mean, std).
TABLE2 = {
    "F1": ((99.66, 0.05), (99.92, 0.01), (98.03, 0.07), (97.81, 0.07)),
    "F2": ((99.99, 0.03), (98.35, 2.08), (64.02, 0.2), (59.45, 1.05)),
    "C1": ((99.89, 0.02), (99.66, 0.2), (80.04, 0.12), (77.26, 0.42)),
    "C2": ((99.99, 0.04), (99.99, 0.01), (89.24, 0.12), (87.26, 0.07)),
    "C3": ((99.56, 0.44), (99.88, 0.30), (49.58, 0.39), (46.45, 0.43)),
    "C4": ((99.10, 1.23), (99.57, 1.84), (63.08, 0.5), (57.81, 0.17)),
}

# Tables 3 (full space) and 4 (random subspace, dim 100): sharpness
# (eps 1e-3 SB, eps 1e-3 LB, eps 5e-4 SB, eps 5e-4 LB), each (mean, std).
TABLE3 = {
    "F1": ((1.23, 0.83), (205.14, 69.52), (0.61, 0.27), (42.90, 17.14)),
    "F2": ((1.39, 0.02), (310.64, 38.46), (0.90, 0.05), (93.15, 6.81)),
    "C1": ((28.58, 3.13), (707.23, 43.04), (7.08, 0.88), (227.31, 23.23)),
    "C2": ((8.68, 1.32), (925.32, 38.29), (2.07, 0.86), (175.31, 18.28)),
    "C3": ((29.85, 5.98), (258.75, 8.96), (8.56, 0.99), (105.11, 13.22)),
    "C4": ((12.83, 3.84), (421.84, 36.97), (4.07, 0.87), (109.35, 16.57)),
}
TABLE4 = {
    "F1": ((0.11, 0.00), (9.22, 0.56), (0.05, 0.00), (9.17, 0.14)),
    "F2": ((0.29, 0.02), (23.63, 0.54), (0.05, 0.00), (6.28, 0.19)),
    "C1": ((2.18, 0.23), (137.25, 21.60), (0.71, 0.15), (29.50, 7.48)),
    "C2": ((0.95, 0.34), (25.09, 2.61), (0.31, 0.08), (5.82, 0.52)),
    "C3": ((17.02, 2.20), (236.03, 31.26), (4.03, 1.45), (86.96, 27.39)),
    "C4": ((6.05, 1.13), (72.99, 10.96), (1.89, 0.33), (19.85, 4.12)),
}


def table2(net: str, regime: str, split: str) -> tuple[float, float] | None:
    """Paper accuracy (%) for a net, regime (SB/LB) and split (train/test); None if not in paper."""
    if net not in TABLE2 or regime not in ("SB", "LB"):
        return None
    return TABLE2[net][("train", "test").index(split) * 2 + ("SB", "LB").index(regime)]


def sharpness(net: str, regime: str, eps: float, space: str) -> tuple[float, float] | None:
    table = {"full": TABLE3, "subspace": TABLE4}[space]
    if net not in table or regime not in ("SB", "LB") or eps not in (1e-3, 5e-4):
        return None
    return table[net][(1e-3, 5e-4).index(eps) * 2 + ("SB", "LB").index(regime)]
