"""Layer 3, training: the one training loop and everything that changes how it trains.

Owns the loop with its stopping rule (`train`, `stopping`), the resume checkpoint (`resume`), the
speed options (`speed`), several seeds in one process (`multiseed`), the remedies of the
generalization gap (`remedies/`) and the rule that says a run diverged (`divergence`).
May import: core, data, nets. (Never measures: per-epoch measurements come in as hooks.)
"""
