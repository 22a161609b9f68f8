"""Every ``>>>`` example in the API reference runs and prints what it shows.

The examples are read from the source the reference site is built from (the package's .py
files and ``_native.pyi``), so a new module's examples are collected with no edit here.
"""

from __future__ import annotations

import ast
import doctest
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "python" / "nemo_flow"
SOURCES = sorted(p for p in PACKAGE.rglob("*.py*") if p.suffix in {".py", ".pyi"})
DocNode = ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _docstrings(path: Path) -> list[tuple[str, str, int]]:
    """(qualified name, docstring, line) of the module and every class and function in it."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[str, str, int]] = []

    def visit(node: DocNode, name: str) -> None:
        doc = ast.get_docstring(node, clean=False)
        if doc:
            found.append((name, doc, node.body[0].lineno))
        for child in node.body:
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, f"{name}.{child.name}")

    visit(tree, _module_name(path))
    return found


EXAMPLES = [
    (path, name, doc, line)
    for path in SOURCES
    for name, doc, line in _docstrings(path)
    if doctest.DocTestParser().get_examples(doc)
]


@pytest.mark.parametrize(("path", "name", "doc", "line"), EXAMPLES, ids=[e[1] for e in EXAMPLES])
def test_docstring_example_runs(path: Path, name: str, doc: str, line: int) -> None:
    test = doctest.DocTestParser().get_doctest(doc, {}, name, str(path), line)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test, out=lambda text: pytest.fail(f"{path.name}:{line}: example in {name} failed\n{text}"))
    assert runner.failures == 0 and runner.tries > 0


def test_every_public_module_with_an_api_has_an_example() -> None:
    # The seed reference is the model: each module page opens with an example that runs.
    missing = []
    for path in SOURCES:
        module = _module_name(path)
        if path.suffix != ".py" or any(part.startswith("_") for part in module.split(".")):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        exported = any(
            isinstance(n, ast.Assign | ast.AnnAssign)
            and "__all__" in ast.unparse(n.targets[0] if isinstance(n, ast.Assign) else n.target)
            and n.value is not None
            and bool(ast.literal_eval(n.value))
            for n in tree.body
        )
        doc = ast.get_docstring(tree) or ""
        if exported and not doctest.DocTestParser().get_examples(doc):
            missing.append(module)
    assert missing == [], f"public modules whose docstring has no >>> example: {missing}"


def test_examples_were_found() -> None:
    # Guards the collector itself: the package docstring carries the seed's example.
    assert any(name == "nemo_flow" for _, name, _, _ in EXAMPLES)
    assert len(EXAMPLES) >= 10
