"""Every command the rules run parses with the CLI: the rules pass every required flag (defaults of
configuration values live in the schema, not in argparse). A dry run: nothing executes."""

import re
import shlex

from conftest import ROOT
from sharpminima.cli.main import build_parser
from workflow_helpers import snakemake


def test_every_planned_command_of_the_demo_parses(tmp_path):
    proc = snakemake(tmp_path, ROOT / "config/demo.yaml", "-n", "--printshellcmds")
    parser, verbs = build_parser(), set()
    for m in re.finditer(r"-m sharpminima (.*?)(?: 2> \S+)?$", proc.stdout + proc.stderr, re.M):
        argv = shlex.split(re.sub(r"\$\(dirname ([^)]*)\)", r"\1", m.group(1)))
        args = parser.parse_args(argv)  # SystemExit (2) names a flag a rule no longer passes
        verbs.add(args.verb)
    assert {"train", "sharpness", "hessian", "grad-noise", "landscape", "slice2d", "table2",
            "collect", "report"} <= verbs
