"""The committed reference record: the report with its provenance header, tables and PNGs."""

import json

from sharpminima.analysis import reference


def test_reference_record_copies_the_planned_tables_and_linked_figures(tmp_path):
    results = tmp_path / "results"
    for d in ("report", "tables", "figures", "summary"):
        (results / d).mkdir(parents=True)
    (results / "figures/fig2_F1.png").write_bytes(b"png")
    (results / "figures/fig2_F1.pdf").write_bytes(b"pdf")
    (results / "tables/table2.md").write_text("| t2 |")
    (results / "tables/stale.md").write_text("| from another configuration |")
    (results / "summary/manifest.json").write_text(json.dumps(
        {"tables": {"table2": "results/tables/table2.md"}}))
    (results / "report/REPORT.md").write_text(
        "# r\n\n- [fig2_F1](../figures/fig2_F1.png) ([pdf](../figures/fig2_F1.pdf))\n")
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"command": "make reproduce-cpu", "commit": "abc123",
                               "machine": "AMD EPYC, 2 cores", "started": "2026-12-01T21:00:00",
                               "wall_s": 3600, "phases": {"train": 2400, "analysis": 1200}}))
    out = tmp_path / "docs/reference/cpu"
    reference.write(results, run, out)
    md = (out / "REPORT.md").read_text()
    assert md.startswith("> **Reference record** of `make reproduce-cpu`, produced at commit "
                         "`abc123`")
    assert "wall time 60.0 min" in md and "train 40.0 min; analysis 20.0 min" in md
    assert "![fig2_F1](figures/fig2_F1.png)" in md and ".pdf" not in md
    assert sorted(p.name for p in (out / "figures").iterdir()) == ["fig2_F1.png"]
    assert sorted(p.name for p in (out / "tables").iterdir()) == ["table2.md"]
