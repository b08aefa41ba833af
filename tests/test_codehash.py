import sys
import textwrap

from sharpminima.core.codehash import code_hash, dependencies


def _module(tmp_path, monkeypatch, source, name="figmod"):
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    from sharpminima.core import codehash
    codehash._definitions.cache_clear()
    sys.modules.pop(name, None)
    return name


SOURCE = """
STYLE = {"font": 10}

def style():
    return STYLE

def helper(x):
    return x + 1

def fig_a(df):
    style()
    return helper(df)

def fig_b(df):
    style()
    return df
"""


def test_dependencies_are_transitive(tmp_path, monkeypatch):
    m = _module(tmp_path, monkeypatch, SOURCE)
    assert dependencies(m, "fig_a") == ["STYLE", "fig_a", "helper", "style"]
    assert dependencies(m, "fig_b") == ["STYLE", "fig_b", "style"]


def test_editing_one_figure_changes_only_its_hash(tmp_path, monkeypatch):
    m = _module(tmp_path, monkeypatch, SOURCE)
    a, b = code_hash(m, "fig_a"), code_hash(m, "fig_b")
    m = _module(tmp_path, monkeypatch, SOURCE.replace("return x + 1", "return x + 2"))
    assert code_hash(m, "fig_a") != a and code_hash(m, "fig_b") == b
    m = _module(tmp_path, monkeypatch, SOURCE.replace('{"font": 10}', '{"font": 12}'))
    assert code_hash(m, "fig_a") != a and code_hash(m, "fig_b") != b


def test_comments_and_formatting_do_not_count(tmp_path, monkeypatch):
    m = _module(tmp_path, monkeypatch, SOURCE)
    before = code_hash(m, "fig_a")
    m = _module(tmp_path, monkeypatch,
                SOURCE.replace("    style()\n    return helper(df)",
                               "    style()  # why\n\n    return helper( df )"))
    assert code_hash(m, "fig_a") == before


STYLE_MODULE = """
PALETTE = ["blue", "red"]

def styled():
    return PALETTE

def title(what):
    return what.upper()

def unrelated():
    return 0
"""

FIGS_MODULE = """
from figpkg.style import styled, title as make_title
from figpkg import style

def fig3(df):
    styled()
    return make_title(df)

def fig7(df):
    return df

def fig9(df):
    return style.unrelated()
"""


def _package(tmp_path, monkeypatch, style_source=STYLE_MODULE, figs_source=FIGS_MODULE):
    pkg = tmp_path / "figpkg"
    pkg.mkdir(exist_ok=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "style.py").write_text(textwrap.dedent(style_source))
    (pkg / "figs.py").write_text(textwrap.dedent(figs_source))
    monkeypatch.syspath_prepend(str(tmp_path))
    from sharpminima.core import codehash
    codehash._definitions.cache_clear()
    for name in ("figpkg", "figpkg.style", "figpkg.figs"):
        sys.modules.pop(name, None)
    return "figpkg.figs"


def test_dependencies_follow_imports_into_other_modules(tmp_path, monkeypatch):
    m = _package(tmp_path, monkeypatch)
    assert dependencies(m, "fig3") == ["fig3", "figpkg.style:PALETTE", "figpkg.style:styled",
                                       "figpkg.style:title"]
    assert dependencies(m, "fig7") == ["fig7"]
    assert dependencies(m, "fig9") == ["fig9", "figpkg.style:unrelated"]  # style.unrelated()


def test_editing_a_helper_in_another_module_changes_the_hash(tmp_path, monkeypatch):
    m = _package(tmp_path, monkeypatch)
    before = {k: code_hash(m, k) for k in ("fig3", "fig7", "fig9")}
    m = _package(tmp_path, monkeypatch, STYLE_MODULE.replace('"blue"', '"navy"'))
    assert code_hash(m, "fig3") != before["fig3"]
    assert code_hash(m, "fig7") == before["fig7"] and code_hash(m, "fig9") == before["fig9"]


def test_editing_an_unrelated_function_does_not_change_the_hash(tmp_path, monkeypatch):
    m = _package(tmp_path, monkeypatch)
    before = {k: code_hash(m, k) for k in ("fig3", "fig7")}
    m = _package(tmp_path, monkeypatch, STYLE_MODULE.replace("return 0", "return 1"),
                 FIGS_MODULE.replace("return df\n", "return df[::-1]\n"))
    assert code_hash(m, "fig3") == before["fig3"] and code_hash(m, "fig7") != before["fig7"]


def test_import_cycles_terminate(tmp_path, monkeypatch):
    m = _package(tmp_path, monkeypatch, STYLE_MODULE + "\nfrom figpkg.figs import fig3\n\n"
                 "def loop():\n    return fig3(1)\n",
                 FIGS_MODULE + "\nfrom figpkg.style import loop\n\ndef fig8(df):\n"
                 "    return loop() + fig8(df)\n")
    assert dependencies(m, "fig8") == ["fig3", "fig8", "figpkg.style:PALETTE",
                                       "figpkg.style:loop", "figpkg.style:styled",
                                       "figpkg.style:title"]


def test_real_figures_modules():
    deps = dependencies("sharpminima.figures.paths", "fig3")
    assert "sharpminima.figures.style:styled" in deps and "parametric" in deps
    assert "sharpminima.figures.style:int_log2_ticks" not in deps
    assert len(code_hash("sharpminima.figures.paths", "fig3")) == 16
    from sharpminima.figures.registry import MODULE_OF
    for kind, module in MODULE_OF.items():
        assert len(code_hash(module, kind)) == 16
