"""Layer 5, analysis: records in, tables, verdicts and the report out; never a checkpoint.

Owns the paper's own numbers (`paper`), gathering the planned records into tidy tables
(`records`), statistics (`stats`), the paper's tables (`tables`, `remedies_table`), the Section 4
frames (`sweeps`), the correlation study (`correlation`) and the reparametrization test
(`reparam`), the protocol and divergence checks of the report (`protocol`), the verdicts on the
paper's claims (`verdicts`) and per-figure findings (`findings`), the DVC metrics summary
(`summary`), REPORT.md (`report`, `report_html`) and the committed reference record
(`reference`).
May import: core, training.divergence. (Records only: never a model.)
"""
