"""Layer 2, nets: the networks and what is done to a network independently of how it was trained.

Owns the paper's six networks and R18 (`models`), networks of the user's own from the config
(`builders`), the registry table (`table`), saving and loading trained
models (`checkpoint`), trainable parameters as one flat vector (`params`), deterministic
full-split evaluation (`evaluate`) and function-preserving rescalings (`rescale`).
May import: core, data.
"""
