"""dvc.yaml declares the code its stages run: each `lrat ...` stage's deps cover every lrat module its command imports.

The rule (what ``missing_code_deps`` checks):

* Root of a stage: the module that defines the command function its ``cmd:`` invokes (``lrat train ...`` ->
  ``train``, ``lrat simulate world`` -> ``simulate`` -> ``world``), read statically from the ``lrat`` script's
  app (pyproject.toml ``[project.scripts]``: ``lrat.cli:app``) with ``ast`` - ``app.command(...)(func)``,
  ``@app.command(...)``, ``app.add_typer(sub, name=...)`` and the imports that bring them in - so the check works
  even while the tree does not import; ``test_static_commands_match_the_click_tree`` checks that reading against
  ``typer.main.get_command(lrat.cli.app)`` whenever the CLI imports. Plus the package ``__init__`` modules Python
  runs to import the root (``lrat/__init__.py``, ``lrat/<pkg>/__init__.py``).
* Closure: every ``lrat`` module imported, directly or through other lrat modules, by ``import``/``from ...
  import`` statements found by ``ast`` anywhere in a module (function bodies included, so the lazy imports of heavy
  code count); ``from a.b import c`` counts ``a.b.c`` when ``c`` is a submodule; relative imports are resolved;
  importing ``a.b.c`` also runs ``a`` and ``a.b``. Imports under ``if TYPE_CHECKING:`` are left out (they never run).
* Left out: ``lrat.cli`` (pure wiring: it imports every command module at start-up, so counting it would make
  every stage depend on nearly all of src/lrat) and ``lrat.__main__``; imports of lrat modules that have no file
  (a broken import is other tests' business). Imports by name in strings (``bentofile.yaml``'s
  ``service:``, subprocesses) are not followed.
* Dynamic imports (``importlib``) are not followed; src/lrat has none today.
* Covered: a module is covered when one of the stage's deps is its file, or a folder above it (package
  granularity is fine). ``${...}`` deps are data, read literally, and never cover code.

Stages whose cmd is not ``lrat ...`` are skipped. A failure names the stage, each uncovered module and the dep to
add (``src/lrat/<pkg>`` for a package's module, ``src/lrat/<module>.py`` for a top-level one).
"""

from __future__ import annotations

import ast
import copy
import functools
import importlib
import inspect
import json
import os
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections import deque
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

import pytest
import yaml

from .conftest import REPO

SRC = REPO / "src"
PACKAGE = "lrat"


# -- the lrat modules and their imports ---------------------------------------------------------------------------


def module_files(src: Path = SRC, package: str = PACKAGE) -> dict[str, Path]:
    """Every module of the package: dotted name -> file (a package's is its ``__init__.py``)."""
    found: dict[str, Path] = {}
    for path in sorted((src / package).rglob("*.py")):
        rel = path.relative_to(src).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        found[".".join(parts)] = path
    return found


def parse_file(path: Path) -> ast.Module:
    """The file's syntax tree, parsed once per version of the file (the checks walk the same files many times)."""
    stat = path.stat()
    return _parse_cached(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=1024)
def _parse_cached(path: str, mtime_ns: int, size: int) -> ast.Module:
    return ast.parse(Path(path).read_text(encoding="utf-8"), filename=path)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST) -> Iterable[ast.Import | ast.ImportFrom]:
    """Every import statement anywhere in the tree, except in the body of ``if TYPE_CHECKING:`` (its ``else``
    runs, so it is kept)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _with_parents(name: str) -> list[str]:
    """``a.b.c`` -> ``a``, ``a.b``, ``a.b.c``: importing a module runs its packages' ``__init__`` first."""
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def imported_modules(name: str, modules: dict[str, Path]) -> set[str]:
    """The package's modules that module ``name`` imports (with their parent packages)."""
    path = modules[name]
    tree = parse_file(path)
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join([*base, node.module] if node.module else base)
            else:
                stem = node.module or ""
            # `from a.b import c`: a.b, and a.b.c when c is a submodule (else c is a name in a.b)
            targets = [stem, *(f"{stem}.{alias.name}" for alias in node.names if alias.name != "*")]
            targets = [stem] + [t for t in targets[1:] if t in modules]
        for target in targets:
            found.update(m for m in _with_parents(target) if m in modules)
    found.discard(name)
    return found


def closure(roots: Iterable[str], modules: dict[str, Path], excluded: frozenset[str] | None = None
            ) -> dict[str, str | None]:
    """The roots (with their parent packages) and every package module they import, directly or not: module ->
    the module it was first reached from (breadth first, so the chain back to a root is a shortest one)."""
    excluded = EXCLUDED if excluded is None else excluded
    found: dict[str, str | None] = {}
    todo = deque((m, None) for root in roots for m in _with_parents(root) if m in modules)
    while todo:
        name, via = todo.popleft()
        if name in found or name in excluded:
            continue
        found[name] = via
        todo.extend((m, name) for m in sorted(imported_modules(name, modules)) if m not in found)
    return found


def import_chain(module: str, reached: dict[str, str | None]) -> str:
    chain = [module]
    while (via := reached.get(chain[-1])) is not None:
        chain.append(via)
    return " <- ".join(chain)


# -- stages, their commands and their deps ------------------------------------------------------------------------


def load_stages(path: Path = REPO / "dvc.yaml") -> dict[str, dict[str, Any]]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["stages"]


def _cmd_words(stage: dict[str, Any]) -> list[str]:
    cmd = stage.get("cmd")
    if isinstance(cmd, list):  # a list of commands: the first one names the program
        cmd = cmd[0] if cmd else None
    return shlex.split(cmd) if isinstance(cmd, str) else []


def is_lrat_stage(stage: dict[str, Any]) -> bool:
    words = _cmd_words(stage)
    return bool(words) and words[0] == "lrat"


def entry_point(pyproject: Path = REPO / "pyproject.toml") -> tuple[str, str]:
    """The ``lrat`` script's app: ``("lrat.cli", "app")``, from ``[project.scripts]``."""
    module, _, attr = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["scripts"]["lrat"].partition(":")
    return module, attr


# the `lrat` script's module (pure wiring) and `python -m lrat`
EXCLUDED = frozenset({entry_point()[0], f"{PACKAGE}.__main__"})


def _parse(module: str, modules: dict[str, Path]) -> ast.Module:
    return parse_file(modules[module])


def _definition(module: str, name: str, modules: dict[str, Path], hops: int = 0) -> str:
    """The module that defines ``name`` as seen from ``module``, following ``from X import name`` re-exports."""
    if hops > 10 or module not in modules:
        raise AssertionError(f"cannot follow {name!r} to its definition (from {module})")
    for node in ast.walk(_parse(module, modules)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return module
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return module
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    return _definition(node.module, alias.name, modules, hops + 1)
    raise AssertionError(f"{name!r} is neither defined nor imported in {module}")


def _command_name(call: ast.Call, default: str) -> str:
    """``app.command("x")`` -> x; ``app.command()`` -> typer's default, the function's name with ``_`` -> ``-``."""
    for arg in [*call.args[:1], *(k.value for k in call.keywords if k.arg == "name")]:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return arg.value
    return default.lower().replace("_", "-")


def _is_method(node: ast.AST, app: str, method: str) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == method
            and isinstance(node.func.value, ast.Name) and node.func.value.id == app)


def typer_commands(module: str, app: str, modules: dict[str, Path]) -> dict[tuple[str, ...], str]:
    """Statically, the commands of the Typer ``app`` defined in ``module``: ``("simulate", "world")`` -> the module
    that defines the command function. Understands ``@app.command(...)``, ``app.command(...)(func)`` and
    ``app.add_typer(sub, name=...)`` (the forms lrat.cli and the command modules use)."""
    found: dict[tuple[str, ...], str] = {}
    for node in ast.walk(_parse(module, modules)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for deco in node.decorator_list:
                if _is_method(deco, app, "command"):
                    found[(_command_name(deco, node.name),)] = module
        elif isinstance(node, ast.Call) and _is_method(node.func, app, "command"):
            func = node.args[0] if node.args else None
            if not isinstance(func, ast.Name):
                raise AssertionError(f"{module}: {ast.unparse(node)} registers no plain function name")
            found[(_command_name(node.func, func.id),)] = _definition(module, func.id, modules)
        elif _is_method(node, app, "add_typer"):
            sub = node.args[0] if node.args else None
            names = [k.value for k in node.keywords if k.arg == "name"]
            if not isinstance(sub, ast.Name) or not (names and isinstance(names[0], ast.Constant)):
                raise AssertionError(f"{module}: cannot read {ast.unparse(node)} (want add_typer(sub_app, name=...))")
            sub_module = _definition(module, sub.id, modules)
            for path, where in typer_commands(sub_module, sub.id, modules).items():
                found[(names[0].value, *path)] = where
    return found


def command_module(stage: dict[str, Any], modules: dict[str, Path],
                   commands: dict[tuple[str, ...], str] | None = None) -> str:
    """The module that defines the function the stage's ``lrat ...`` cmd runs: the longest run of the cmd's first
    words that names a command of the ``lrat`` app."""
    commands = typer_commands(*entry_point(), modules) if commands is None else commands
    words = _cmd_words(stage)[1:]
    for n in range(len(words), 0, -1):
        if tuple(words[:n]) in commands:
            return commands[tuple(words[:n])]
    raise AssertionError(f"`{' '.join(_cmd_words(stage)[:3])} ...` names no command of the lrat app "
                         f"(it has {sorted(' '.join(c) for c in commands)})")


def _norm(dep: str) -> PurePosixPath:
    return PurePosixPath(os.path.normpath(dep.strip()).replace(os.sep, "/"))


def covered(module: str, deps: Iterable[str], modules: dict[str, Path], root: Path = REPO) -> bool:
    file = PurePosixPath(modules[module].relative_to(root).as_posix())
    for dep in deps:
        if "${" in dep:  # templated: data paths from params.yaml, never code
            continue
        dep_path = _norm(dep)
        if dep_path == file or dep_path in file.parents:
            return True
    return False


def suggested_dep(module: str, modules: dict[str, Path], root: Path = REPO) -> str:
    """Package granularity: ``src/lrat/<pkg>`` for a module of a package, the file for a top-level module (and
    ``src/lrat/__init__.py`` for the package itself, not the whole of ``src/lrat``)."""
    file = modules[module].relative_to(root)
    top = SRC.relative_to(root) / PACKAGE
    rest = file.relative_to(top)
    return (top / rest.parts[0]).as_posix() if len(rest.parts) > 1 else file.as_posix()


def _dep_names(stage: dict[str, Any]) -> list[str]:
    names: list[str] = []
    for dep in stage.get("deps") or []:
        names.extend(dep.keys() if isinstance(dep, dict) else [str(dep)])
    return names


class Missing(NamedTuple):
    dep: str  # the dep that would cover the module
    via: str  # how the stage's command reaches it: "module <- importer <- ... <- root"


def missing_code_deps(stages: dict[str, dict[str, Any]], modules: dict[str, Path] | None = None
                      ) -> dict[str, dict[str, Missing]]:
    """For each ``lrat ...`` stage: the imported lrat modules its deps leave uncovered, with the dep to add."""
    modules = module_files() if modules is None else modules
    missing: dict[str, dict[str, Missing]] = {}
    commands = typer_commands(*entry_point(), modules)
    for name, stage in stages.items():
        if not is_lrat_stage(stage):
            continue
        deps = _dep_names(stage)
        reached = closure([command_module(stage, modules, commands)], modules)
        uncovered = {m: Missing(suggested_dep(m, modules), import_chain(m, reached)) for m in sorted(reached)
                     if not covered(m, deps, modules)}
        if uncovered:
            missing[name] = uncovered
    return missing


def describe(missing: dict[str, dict[str, Missing]]) -> str:
    lines = []
    for stage, uncovered in missing.items():
        adds = sorted({m.dep for m in uncovered.values()})
        lines.append(f"stage {stage!r}: add to deps {adds}")
        lines.extend(f"    {module}  -> {m.dep}   (imported: {m.via})" for module, m in uncovered.items())
    return "\n".join(lines)


# -- the tests ----------------------------------------------------------------------------------------------------

STAGES = load_stages()


@pytest.mark.parametrize("stage", list(STAGES))
def test_stage_deps_cover_the_code_it_imports(stage: str):
    if not is_lrat_stage(STAGES[stage]):
        pytest.skip(f"stage {stage!r}: cmd is not `lrat ...` ({STAGES[stage].get('cmd')!r})")
    missing = missing_code_deps({stage: STAGES[stage]})
    if missing:
        pytest.fail("dvc.yaml declares less code than the stage imports:\n" + describe(missing), pytrace=False)


def test_closure_follows_lazy_submodule_and_relative_imports(tmp_path: Path):
    pkg = tmp_path / "src" / "lrat"
    files = {
        "__init__.py": "from lrat import _boot\n",
        "_boot.py": "",
        "cli.py": "from lrat.b.command import run\nfrom lrat.c import x\n",
        "a.py": "",
        "b/__init__.py": "",
        "b/command.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import lrat.never\n"
                         "def run():\n    from lrat.c import sub\n    from . import helper\n    import lrat.d.e\n"),
        "b/helper.py": "from ..a import thing\n",
        "c/__init__.py": "",
        "c/sub.py": "",
        "c/x.py": "",
        "d/__init__.py": "",
        "d/e.py": "",
        "never.py": "",
    }
    for rel, text in files.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    modules = module_files(tmp_path / "src")
    assert set(closure(["lrat.b.command"], modules)) == {
        "lrat", "lrat._boot", "lrat.b", "lrat.b.command", "lrat.b.helper", "lrat.a", "lrat.c", "lrat.c.sub",
        "lrat.d", "lrat.d.e"}


def test_static_commands_match_the_click_tree():
    """The static reading of the CLI's wiring gives the same command -> module map as the click tree itself."""
    module, attr = entry_point()
    try:
        import typer.main

        app = getattr(importlib.import_module(module), attr)
    except ImportError as exc:  # mid-refactor: the static check above still runs; the CLI's own tests fail loudly
        pytest.skip(f"{module} does not import ({exc}); cannot compare with the click tree")

    def walk(command: Any, path: tuple[str, ...]) -> dict[tuple[str, ...], str]:
        if hasattr(command, "list_commands"):  # a group (typer vendors click: not isinstance click.Group)
            ctx = command.context_class(command)
            return {k: v for name in command.list_commands(ctx)
                    for k, v in walk(command.get_command(ctx, name), (*path, name)).items()}
        return {path: inspect.unwrap(command.callback).__module__}

    assert typer_commands(module, attr, module_files()) == walk(typer.main.get_command(app), ())


def test_checker_names_the_stage_and_module_when_a_dep_is_dropped():
    """The real dvc.yaml, less one stage's ``src/lrat/retrieval``: the checker names that stage and the retrieval
    modules it imports (and nothing else new: what it reports against the real dvc.yaml is the baseline)."""
    modules = module_files()
    candidates = [name for name, stage in STAGES.items() if is_lrat_stage(stage)
                  and "src/lrat/retrieval" in _dep_names(stage)
                  and "lrat.retrieval.encoder" in closure([command_module(stage, modules)], modules)]
    assert candidates, "no stage lists src/lrat/retrieval and imports its encoder (dvc.yaml changed? pick another dep)"
    stages = copy.deepcopy(STAGES)
    for name in candidates:
        stages[name]["deps"] = [d for d in stages[name]["deps"] if d != "src/lrat/retrieval"]
    before, after = missing_code_deps(STAGES, modules), missing_code_deps(stages, modules)
    new = {stage: {m: v for m, v in uncovered.items() if m not in before.get(stage, {})}
           for stage, uncovered in after.items()}
    new = {stage: uncovered for stage, uncovered in new.items() if uncovered}
    assert sorted(new) == sorted(candidates), describe(new)
    for name in candidates:
        assert new[name]["lrat.retrieval.encoder"].dep == "src/lrat/retrieval"
        # the chain back ends at the root (or a package above it, whose __init__ Python runs first)
        assert new[name]["lrat.retrieval.encoder"].via.split(" <- ")[-1] in _with_parents(
            command_module(STAGES[name], modules))
        assert {m.split(".")[1] for m in new[name]} == {"retrieval"}
        assert {m.dep for m in new[name].values()} == {"src/lrat/retrieval"}
        assert f"stage {name!r}: add to deps ['src/lrat/retrieval']" in describe(new)
        assert "    lrat.retrieval.encoder  -> src/lrat/retrieval" in describe(new)


@pytest.mark.slow
def test_dvc_reruns_train_when_the_encoder_changes(tmp_path: Path):
    """Real DVC: a change in src/lrat/retrieval marks a stage with the real `train` code deps as changed."""
    code_deps = [d for d in _dep_names(STAGES["train"]) if d.startswith("src/")]
    assert "src/lrat/retrieval" in code_deps, f"train's code deps {code_deps} do not list src/lrat/retrieval"
    work = tmp_path / "repo"
    shutil.copytree(SRC / PACKAGE, work / "src" / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    stage = {"cmd": f"{shlex.quote(sys.executable)} -c \"open('out.txt', 'w').write('trained')\"",
             "deps": code_deps, "outs": ["out.txt"]}
    (work / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"train": stage}}, sort_keys=False))
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    dvc = str(Path(sys.executable).parent / "dvc")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([dvc, *args], cwd=work, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"dvc {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done

    run("init", "--no-scm", "-q")
    run("repro", "-q")
    assert (work / "out.txt").read_text() == "trained"
    assert json.loads(run("status", "--json").stdout or "{}") == {}
    encoder = work / "src" / PACKAGE / "retrieval" / "encoder.py"
    encoder.write_text(encoder.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    status = json.loads(run("status", "--json").stdout)
    assert "train" in status, status
    assert {"changed deps": {"src/lrat/retrieval": "modified"}} in status["train"], status
