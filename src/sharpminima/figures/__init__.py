"""Layer 6, figures: tidy frames in, matplotlib figures out (presentation only).

Owns the shared style (`style`), the figures of training (`training`: Fig. 2), of paths between
and around minimizers (`paths`: Figs. 3 and 7), of 2-D slices (`slices`), of Section 4 and
gradient noise (`sweeps`), of the correlation study (`correlation`), and the table of figure
kinds the `figure` verb draws (`registry`).
May import: core, analysis. (To read the frames it draws.)
"""
