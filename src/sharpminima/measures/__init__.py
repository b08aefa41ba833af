"""Layer 4, measures: what is measured at a trained point, from checkpoints to small records.

Owns Metric 2.1's eps-sharpness (`sharpness`, with its box maximizers `lbfgs_box` and
`box_ascent` and its random subspace `subspace`), Hessian eigenvalues and trace (`hessian`),
loss-landscape paths and 2-D slices (`landscape`), gradient noise (`noise`) and, beyond the
paper, adaptive sharpness (`adaptive`) and the record of measures beyond Metric 2.1
(`generalization`).
May import: core, data, nets.
"""
