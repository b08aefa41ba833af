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
    m = _module(tmp_path, monkeypatch, SOURCE.replace("    style()\n    return helper(df)",
                                                      "    style()  # why\n\n    return helper( df )"))
    assert code_hash(m, "fig_a") == before


def test_real_figures_module():
    assert "style" in dependencies("sharpminima.figures.paper_figures", "fig3")
    assert len(code_hash("sharpminima.figures.paper_figures", "fig3")) == 16
