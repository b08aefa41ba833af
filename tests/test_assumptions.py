"""The report's assumptions are read from the configuration's own ASSUMPTION comments."""

import json
import subprocess
from pathlib import Path

import yaml

from sharpminima.analysis import report
from sharpminima.analysis.assumptions import annotated_assumptions

CONFIG = Path(__file__).resolve().parents[1] / "config" / "config.yaml"


def _grep_assumption_lines() -> list[str]:
    out = subprocess.run(["grep", "-n", "ASSUMPTION", str(CONFIG)], capture_output=True,
                         text=True, check=True).stdout.splitlines()
    return out


def test_every_assumption_of_the_config_is_in_the_table():
    text = CONFIG.read_text()
    config = yaml.safe_load(text)
    lines = _grep_assumption_lines()
    assert len(lines) >= 29  # the marks in config.yaml when this test was written, and more since
    # the file's header defines the word (a comment block followed by a blank line: no key)
    header = [line for line in lines if line.split(":", 1)[0] == "3"]
    assert header and "the paper is silent" in header[0]
    table = report.assumptions_section(config, text)
    found = annotated_assumptions(text, config)
    assert len(found) >= len(lines) - len(header)  # continuation keys share a comment
    for line in lines:
        if line in header:
            continue
        said = line.split("#", 1)[1].strip()
        assert said.replace("|", "\\|") in table, said
    keys = [a.key for a in found]
    assert {"train.lr", "train.min_delta", "sharpness.a_dist", "batch_sweep.space",
            "regimes.LB_augment.remedy.augment.hflip",
            "regimes.dynamic.batch_schedule"} <= set(keys)
    assert "train.bn" not in keys and "landscape.slice_span" not in keys
    for a in found:
        assert f"| {a.key} " in table


def test_values_come_from_the_resolved_config():
    text = "train:\n  lr: 0.001   # ASSUMPTION: Keras default\n  bn: batch   # paper\n"
    found = annotated_assumptions(text, {"train": {"lr": 0.5, "bn": "batch"}})
    assert found == [("train.lr", 0.5, "ASSUMPTION: Keras default")]
    assert annotated_assumptions(text, {"train": {"bn": "batch"}}) == []  # lr not in this config
    assert annotated_assumptions(text, {"train": {"lr": None}})[0].value is None  # set to null
    key, value, comment = found[0]
    assert json.dumps(value) == "0.5"


def test_block_above_and_continuation_lines():
    text = ("a:\n"
            "  # the paper is silent: ASSUMPTION\n"
            "  b: 1\n"
            "  c: 2        # ASSUMPTION: first half of a sentence\n"
            "  d: 3        #   that goes on here\n"
            "              #   and here\n"
            "  e: 4        # not one\n"
            "\n"
            "# ASSUMPTION in a header\n"
            "\n"
            "f: 5\n")
    found = annotated_assumptions(text, yaml.safe_load(text))
    assert [a.key for a in found] == ["a.b", "a.c", "a.d"]
    assert found[1].comment == found[2].comment == (
        "ASSUMPTION: first half of a sentence that goes on here and here")


def test_report_says_when_no_annotations_were_given():
    assert "no annotated configuration" in report.assumptions_section({}, None)
