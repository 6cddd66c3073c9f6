"""Fail fast: an editable Python file (or a notebook's `functions` cells) that does not compile
is found when the workspace is prepared (`compile`, milliseconds), and a step certain to import
it is not started, where it would start its interpreter (and torch) only to die on that line.

Certain means read from the code (ast), never guessed: a step is skipped only when the broken
file is reached through imports that run before anything else could stop the step (a script's
leading imports, then the imports its `if __name__ == "__main__":` block makes first, following
the calls of the script's own functions made before any other work, such as `main()`; a
hidden-test case's first imports or the first helper it calls), or, for a notebook's step, when
the first code cell that does not parse (as the kernel parses a cell) comes after nothing but
the skeleton's given `functions` cells (definitions only, the course's own code). Anything the
reading cannot decide runs as before. What the report says is what the run would have said: the
step's log holds Python's own SyntaxError text (and a notebook's the executor's stop line), the
hidden-test records the runner's wording."""

from __future__ import annotations

import ast
import json
import sys
import traceback
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from grader import safe_fs

FUNCTIONS_TAG = "functions"  # grader.inside.notebook.FUNCTIONS_TAG, without importing nbformat here


@dataclass(frozen=True)
class Broken:
    """One file that does not compile, with what Python says about it."""

    rel: str  # as the student knows it: answer.py, or cvae_ood.ipynb
    filename: str  # the name Python reports: answer.py, or cvae_ood.ipynb[functions cells]
    line: int | None
    kind: str  # SyntaxError, IndentationError, TabError
    message: str
    text: str  # Python's own lines for it (File ..., the code, the caret, the error)
    stop: str = ""  # a notebook cell's: the line the notebook executor ends its log with

    @property
    def site(self) -> str:
        """As diagnose.crash_site names it: answer.py:2 SyntaxError: '(' was never closed."""
        return f"{self.filename}:{self.line} {self.kind}: {self.message}"

    @property
    def runner_error(self) -> str:
        """As the hidden-test runner records it (runner_kit._describe)."""
        return f"{self.kind} ({PurePosixPath(self.filename).name}:{self.line}): {self.message}"


def _compiled(source: bytes | str, filename: str, rel: str) -> Broken | None:
    try:
        compile(source, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        text = "".join(traceback.format_exception_only(type(exc), exc))
        return Broken(rel, filename, exc.lineno, type(exc).__name__, str(exc.msg), text)
    except Exception:  # noqa: BLE001 - null bytes, nesting too deep: left to the run itself to report
        return None
    return None


def _function_cells_source(notebook: dict) -> str:
    """grader.inside.notebook.function_cells_source on the notebook's JSON (the same lines)."""
    cells = [c for c in notebook.get("cells", []) if isinstance(c, dict) and c.get("cell_type") == "code"
             and FUNCTIONS_TAG in (c.get("metadata") or {}).get("tags", [])]
    sources = ["".join(c.get("source", "")) if isinstance(c.get("source"), list) else str(c.get("source", ""))
               for c in cells]
    lines = [line for src in sources for line in src.splitlines() if not line.lstrip().startswith(("%", "!"))]
    return "\n".join(lines) + "\n"


def broken_files(workspace: Path, editable: list[str]) -> dict[str, Broken]:
    """The editable files in the workspace that do not compile: {rel: Broken}. For a notebook,
    its `functions` cells as the hidden tests import them (other cells run in the notebook's own
    step, which is graded on what it produced before a broken cell, so it always runs)."""
    found: dict[str, Broken] = {}
    for rel in editable:
        path = workspace / rel
        if not path.is_file() or path.is_symlink():
            continue
        if rel.endswith(".py"):
            broken = _compiled(safe_fs.read_bytes(path, workspace)[0], rel, rel)
        elif rel.endswith(".ipynb"):
            try:
                source = _function_cells_source(json.loads(safe_fs.read_bytes(path, workspace)[0].decode("utf-8")))
            except (ValueError, UnicodeDecodeError, AttributeError, TypeError, OSError):
                continue
            broken = _compiled(source, f"{rel}[{FUNCTIONS_TAG} cells]", rel) if source.strip() else None
        else:
            continue
        if broken:
            found[rel] = broken
    return found


def same_python(sandbox_name: str) -> bool:
    """Whether this process's compile speaks for the sandbox's Python (syntax and messages
    change between minor versions): the local backend runs this interpreter; the grading
    image has IMAGE_PYTHON."""
    if sandbox_name == "local":
        return True
    if sandbox_name == "docker":
        from grader.sandbox.image import IMAGE_PYTHON

        return sys.version_info[:2] == IMAGE_PYTHON
    return False


# --- which steps certainly import a broken file --------------------------------------------

class _Uncertain(Exception):
    """The reading cannot say the step dies on a broken file: it runs."""


def _available() -> frozenset[str]:
    from grader.steps.imports import image_modules

    return image_modules() | {"grader"}


class _Reader:
    """Follows imports through the workspace's modules; remembers what each module reaches."""

    def __init__(self, workspace: Path, broken: dict[str, Broken]):
        self.workspace = workspace
        self.broken = broken
        self.seen: dict[str, Broken | None] = {}

    def module_file(self, dotted: str, root: Path) -> Path | None:
        base = root.joinpath(*dotted.split("."))
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file() and candidate.resolve().is_relative_to(self.workspace.resolve()):
                return candidate
        return None

    def tree(self, path: Path) -> ast.Module:
        try:
            return ast.parse(safe_fs.read_bytes(path, self.workspace)[0])
        except (SyntaxError, ValueError, OSError):
            raise _Uncertain from None

    def file_reaches(self, path: Path, root: Path) -> Broken | None:
        """Importing (or running) this file: the broken file it dies on, or None when its
        leading imports all load. Raises _Uncertain where that cannot be read."""
        rel = path.relative_to(self.workspace).as_posix()
        if rel in self.broken:
            return self.broken[rel]
        if rel in self.seen:
            return self.seen[rel]
        self.seen[rel] = None  # an import cycle loads
        tree = self.tree(path)
        found = None
        for statement in tree.body:
            if isinstance(statement, (ast.Import, ast.ImportFrom)):
                found = self.import_reaches(statement, root)
                if found:
                    break
            elif not _inert(statement):
                break  # code runs from here on: what it imports later is not certain
        self.seen[rel] = found
        return found

    def script_reaches(self, path: Path, root: Path) -> Broken | None:
        """Running this file as `__main__`: the broken file its leading imports reach, else the one
        its `if __name__ == "__main__":` block certainly imports first (_MainReader), else None."""
        if found := self.file_reaches(path, root):
            return found
        functions: dict[str, ast.FunctionDef] = {}  # the script's own functions, as bound when the block runs
        for statement in self.tree(path).body:
            if isinstance(statement, (ast.Import, ast.ImportFrom)):  # file_reaches saw each load
                for name in _bound_names(statement):
                    functions.pop(name, None)
            elif _is_main_guard(statement):
                return _MainReader(self, root, functions).statements(statement.body)
            elif not _inert(statement):
                return None  # code runs first: what it does is not read
            elif isinstance(statement, ast.FunctionDef) and not statement.decorator_list:  # a decorator may wrap it
                functions[statement.name] = statement
            else:
                for name in _bound_names(statement):
                    functions.pop(name, None)
        return None

    def import_reaches(self, statement: ast.Import | ast.ImportFrom, root: Path) -> Broken | None:
        if isinstance(statement, ast.ImportFrom):
            if statement.level:
                raise _Uncertain
            names = [statement.module or ""]
            names += [f"{statement.module}.{a.name}" for a in statement.names if a.name != "*"]
        else:
            names = [a.name for a in statement.names]
        for dotted in names:
            parts = dotted.split(".")
            for depth in range(1, len(parts) + 1):  # a package's __init__ runs before its submodules
                path = self.module_file(".".join(parts[:depth]), root)
                if path is not None:
                    if found := self.file_reaches(path, root):
                        return found
                elif depth == 1:
                    if parts[0] not in _available():
                        raise _Uncertain  # ModuleNotFoundError, or a module this reading does not know
                    break
        return None


def _inert(statement: ast.stmt) -> bool:
    """A statement that cannot stop an import or a function: a docstring, `pass`, a def whose
    decorators and defaults call nothing, a constant assignment to names (`A, B = 1, 2` too)."""
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
        return True
    if isinstance(statement, ast.Pass):
        return True
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
        evaluated = [*statement.decorator_list, *statement.args.defaults, *statement.args.kw_defaults]
        return not any(isinstance(node, ast.Call) for d in evaluated if d is not None for node in ast.walk(d))
    if isinstance(statement, ast.Assign):
        try:
            value = ast.literal_eval(statement.value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return False
        return all(isinstance(t, ast.Name) or _unpacks(t, value) for t in statement.targets)
    return False


def _unpacks(target: ast.expr, value) -> bool:
    """`A, B = 1, 2`: a tuple of names that the constant unpacks into without an error."""
    return (isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (tuple, list))
            and len(target.elts) == len(value) and all(isinstance(t, ast.Name) for t in target.elts))


def _bound_names(statement: ast.stmt) -> list[str]:
    """The names one import, def or assignment binds where it stands."""
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        return [(a.asname or a.name).split(".")[0] for a in statement.names]
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [statement.name]
    targets = statement.targets if isinstance(statement, ast.Assign) else []
    return [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]


def _local_names(fn: ast.FunctionDef) -> set[str]:
    """Every name a function binds anywhere in its body (nested scopes too, to be safe), and its
    parameters: Python makes each of them local to the whole function."""
    spec = fn.args
    names = {a.arg for a in (*spec.posonlyargs, *spec.args, *spec.kwonlyargs, spec.vararg, spec.kwarg) if a}
    for node in ast.walk(ast.Module(body=fn.body, type_ignores=[])):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.stmt):
            names.update(_bound_names(node) if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef,
                                                                 ast.AsyncFunctionDef, ast.ClassDef)) else ())
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
    return names


def _is_main_guard(statement: ast.stmt) -> bool:
    """`if __name__ == "__main__":` (either way round)."""
    test = statement.test if isinstance(statement, ast.If) else None
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    return (any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides)
            and any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides))


class _MainReader:
    """Reads a script's `__main__` block as it runs: its leading imports, then the first call
    when it is one of the script's own functions (`main()`, `sys.exit(main())`), read the same
    way. Stops (None) at the first statement that does any other work: what follows it is not
    certain to run."""

    DEPTH = 4

    def __init__(self, reader: _Reader, root: Path, functions: dict[str, ast.FunctionDef]):
        self.reader, self.root, self.functions = reader, root, functions

    def statements(self, body: list[ast.stmt], depth: int = 0, local: frozenset[str] = frozenset()) -> Broken | None:
        """`local`: the names a function's body binds anywhere (its parameters too): a call of
        one of them is not the script's function of that name."""
        functions = {name: fn for name, fn in self.functions.items() if name not in local}
        for statement in body:
            if isinstance(statement, (ast.Import, ast.ImportFrom)):
                if found := self.reader.import_reaches(statement, self.root):
                    return found
            elif not (isinstance(statement, ast.Global) or _inert(statement)):
                return self.first_call_reaches(statement, depth, functions)
            for name in _bound_names(statement):
                functions.pop(name, None)
        return None

    def first_call_reaches(self, statement: ast.stmt, depth: int,
                           functions: dict[str, ast.FunctionDef]) -> Broken | None:
        value = statement.value if isinstance(statement, (ast.Expr, ast.Assign, ast.Return)) else (
            statement.exc if isinstance(statement, ast.Raise) else None)
        if value is None or depth >= self.DEPTH:
            return None
        call = next(iter(_calls_in_order(value)), None)  # the first call Python makes in the statement
        fn = functions.get(call.func.id) if call and isinstance(call.func, ast.Name) else None
        if fn is None or not _binds(fn, call):
            return None  # other work comes first: a library call, the argument parser, the data
        return self.statements(fn.body, depth + 1, frozenset(_local_names(fn)))


def _binds(fn: ast.FunctionDef, call: ast.Call) -> bool:
    """Whether calling `fn` so cannot fail before its body runs: constant positional arguments
    only, no more than it takes, every parameter without a default given."""
    if call.keywords or any(not isinstance(a, ast.Constant) for a in call.args):
        return False
    spec = fn.args
    positional = len(spec.posonlyargs) + len(spec.args)
    return ((len(call.args) <= positional or spec.vararg is not None)
            and len(call.args) >= positional - len(spec.defaults)
            and all(default is not None for default in spec.kw_defaults))


def _code_args(argv: list[str]) -> list[str]:
    """A Python command's arguments from the one that names its code (`-m`, `-c`, a script) on:
    the interpreter's options before it (-u, -B, -O) name no code."""
    args = argv[1:]
    while args and args[0].startswith("-") and args[0] not in ("-m", "-c"):
        args = args[1:]
    return args


def step_reaches(workspace: Path, broken: dict[str, Broken], argv: list[str]) -> Broken | None:
    """The broken file a step's command certainly dies on (`python script.py ...` or
    `python -m module ...` from the workspace), else None."""
    if not broken or len(argv) < 2:
        return None
    reader = _Reader(workspace, broken)
    args = _code_args(argv)
    try:
        if args and args[0] == "-m" and len(args) > 1:
            path = reader.module_file(args[1], workspace)
            return reader.script_reaches(path, workspace) if path else None
        if args and args[0].endswith(".py"):
            path = workspace / args[0]
            if not path.is_file() or not path.resolve().is_relative_to(workspace.resolve()):
                return None
            return reader.script_reaches(path, path.parent)
    except _Uncertain:
        return None
    return None


# --- a notebook's step ------------------------------------------------------------------------

NOTEBOOK_EXECUTOR = ["-m", "grader.inside.notebook", "execute"]


def notebook_stops(workspace: Path, editable: list[str], skeleton_dir: Path) -> dict[str, Broken]:
    """The editable notebooks whose run certainly stops at a cell that does not compile before
    anything else ran: {rel: Broken, with the executor's stop line}. The cells before it must be
    the skeleton's given `functions` cells, word for word: the course's definitions, which run as
    in the reference's run and make nothing that is graded (the authoring convention, which the
    hidden tests rely on too); a cell of the student's, or a given cell that does work, may stop
    the run first or make what a later step reads, so then the notebook runs."""
    found: dict[str, Broken] = {}
    for rel in editable:
        path = workspace / rel
        if not rel.endswith(".ipynb") or not path.is_file() or path.is_symlink() or not (skeleton_dir / rel).is_file():
            continue
        try:
            if stop := _notebook_stop(workspace, rel, skeleton_dir / rel):
                found[rel] = stop
        except _Uncertain:
            continue
    return found


def _notebook_stop(workspace: Path, rel: str, skeleton: Path) -> Broken | None:
    import nbformat

    from grader.inside.notebook import STOP_PREFIX, cell_label, read_notebook
    from grader.steps.given_cells import is_todo_cell

    try:  # as the executor reads it (nbformat, version 4)
        notebook = nbformat.reads(safe_fs.read_bytes(workspace / rel, workspace)[0].decode("utf-8"), as_version=4)
        given = read_notebook(skeleton)
    except Exception:  # noqa: BLE001 - unreadable, nbformat raises many kinds: the run says what it makes of it
        raise _Uncertain from None
    definitions = {cell.source for cell in given.cells if cell.cell_type == "code" and not is_todo_cell(cell)
                   and FUNCTIONS_TAG in cell.metadata.get("tags", [])}
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or not cell.source.strip():
            continue  # the executor skips it
        broken, exception = _cell_compiled(cell.source, f"{rel}[cell {index + 1}]", rel)
        if broken:
            return replace(broken, stop=f"{STOP_PREFIX}: {cell_label(index, cell)} raised {broken.kind}: "
                                        f"{exception[:200]}")
        if cell.source not in definitions or "__future__" in cell.source:
            return None  # it may stop the run, or make what a later step reads
    return None


def _cell_compiled(source: str, filename: str, rel: str) -> tuple[Broken | None, str]:
    """A cell parsed as the kernel parses it (IPython's transformer: magics, shell escapes, a
    common indent; then its compiler's parse, whose flags say `incomplete input` where a file
    says `'(' was never closed`): what Python says when it does not parse, and the exception's
    own text (`invalid syntax (nb.ipynb[cell 6], line 22)`, as the executor's stop line quotes it).
    A cell that parses is not read further (its compile may still fail in the kernel)."""
    try:
        from IPython.core.compilerop import CachingCompiler
        from IPython.core.inputtransformer2 import TransformerManager

        code = TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - without IPython, or what it would do with the cell is not read here
        raise _Uncertain from None
    try:
        CachingCompiler().ast_parse(code, filename=filename)
    except SyntaxError as exc:
        text = "".join(traceback.format_exception_only(type(exc), exc))
        return Broken(rel, filename, exc.lineno, type(exc).__name__, str(exc.msg), text), str(exc)
    except Exception:  # noqa: BLE001 - null bytes, nesting too deep
        raise _Uncertain from None
    return None, ""


def notebook_reaches(stops: dict[str, Broken], argv: list[str]) -> Broken | None:
    """The cell a notebook's step (`python -m grader.inside.notebook execute NB ...`) certainly
    stops at (notebook_stops), else None."""
    args = _code_args(argv)
    if not stops or args[:3] != NOTEBOOK_EXECUTOR or len(args) < 4:
        return None
    return stops.get(PurePosixPath(args[3]).as_posix())


# --- the hidden-test step ----------------------------------------------------------------------

def _is_case(fn: ast.FunctionDef) -> bool:
    return any((isinstance(d, ast.Name) and d.id == "case") or (isinstance(d, ast.Attribute) and d.attr == "case")
               for d in fn.decorator_list)


def _calls_in_order(node: ast.AST):
    """The calls of an expression in the order Python makes them (a call after its callee and arguments)."""
    if isinstance(node, (ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.GeneratorExp,
                         ast.ListComp, ast.SetComp, ast.DictComp)):
        raise _Uncertain
    for child in ast.iter_child_nodes(node):
        yield from _calls_in_order(child)
    if isinstance(node, ast.Call):
        yield node


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


class _RunnerReader:
    """Reads one runner file the way runner_kit runs it: the module, then each case."""

    def __init__(self, reader: _Reader, tree: ast.Module):
        self.reader = reader
        self.helpers = {s.name: s for s in tree.body if isinstance(s, ast.FunctionDef)}
        self.student: set[str] = set()  # names bound to the student's modules
        self.constants = {t.id: s.value.value for s in tree.body if isinstance(s, ast.Assign)
                          and isinstance(s.value, ast.Constant) and isinstance(s.value.value, str)
                          for t in s.targets if isinstance(t, ast.Name)}

    def statements(self, body: list[ast.stmt], depth: int = 0) -> Broken | None:
        """The broken file these statements certainly reach first; None when they end without
        reaching one (a helper that returns); _Uncertain otherwise."""
        for statement in body:
            if isinstance(statement, (ast.Import, ast.ImportFrom)):
                if found := self.reader.import_reaches(statement, self.reader.workspace):
                    return found
                self._bind(statement)
                continue
            if not isinstance(statement, (ast.Expr, ast.Assign, ast.Return)):
                raise _Uncertain
            if statement.value is None:
                return None
            for call in _calls_in_order(statement.value):
                if found := self.call_reaches(call, depth):
                    return found
            if isinstance(statement, ast.Return):
                return None
        return None

    def call_reaches(self, call: ast.Call, depth: int) -> Broken | None:
        name = call.func.id if isinstance(call.func, ast.Name) else None
        if name == "import_function_cells":
            notebooks = [b for b in self.reader.broken.values() if b.filename.endswith(f"[{FUNCTIONS_TAG} cells]")]
            target = call.args[0] if call.args else None
            rel = self._constant(target)
            hit = [b for b in notebooks if b.rel == rel]
            if hit:
                return hit[0]
            raise _Uncertain  # it loads: what the student's functions then do is theirs
        if name in self.helpers and depth < 4:
            found = self.statements(self.helpers[name].body, depth + 1)
            if found:
                return found
            raise _Uncertain  # the helper returned something of the student's, or nothing certain
        if _root_name(call.func) in self.student or not isinstance(call.func, (ast.Name, ast.Attribute)):
            raise _Uncertain  # the student's own code runs
        return None  # a library call, as in the reference's run

    def _constant(self, node: ast.AST | None) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            return self.constants.get(node.id)
        return None

    def _bind(self, statement: ast.Import | ast.ImportFrom) -> None:
        for alias in statement.names:
            module = statement.module if isinstance(statement, ast.ImportFrom) else alias.name
            if module and self.reader.module_file(module.split(".")[0], self.reader.workspace):
                self.student.add((alias.asname or alias.name).split(".")[0])


def hidden_tests_records(workspace: Path, broken: dict[str, Broken],
                         runners: dict[str, bytes]) -> dict[str, str] | None:
    """What runner_kit would record ({"runner::case" or "runner::*": error}) when every case of
    every runner certainly dies on a broken file; None when the step has to run."""
    if not broken or not runners:
        return None
    reader = _Reader(workspace, broken)
    records: dict[str, str] = {}
    try:
        for name, source in runners.items():
            stem = PurePosixPath(name).stem
            tree = ast.parse(source)
            runner = _RunnerReader(reader, tree)
            loaded = None
            for statement in tree.body:  # the module: imports, defs, constants
                if isinstance(statement, (ast.Import, ast.ImportFrom)):
                    if loaded := reader.import_reaches(statement, workspace):
                        break
                    runner._bind(statement)
                elif isinstance(statement, ast.FunctionDef):
                    if any(not (isinstance(d, ast.Name) and d.id == "case") for d in statement.decorator_list):
                        raise _Uncertain
                elif isinstance(statement, (ast.Expr, ast.Assign)):  # library calls run as in the reference's run
                    for call in _calls_in_order(statement.value):
                        if loaded := runner.call_reaches(call, 0):
                            break
                    if loaded:
                        break
                else:
                    raise _Uncertain
            if loaded:
                records[f"{stem}::*"] = loaded.runner_error
                continue
            cases = [s for s in tree.body if isinstance(s, ast.FunctionDef) and _is_case(s)]
            if not cases:
                return None
            for fn in cases:
                found = runner.statements(fn.body)
                if found is None:
                    return None  # the case finishes without the broken file: it has to run
                records[f"{stem}::{fn.name}"] = found.runner_error
    except (_Uncertain, SyntaxError, ValueError, RecursionError):
        return None
    return records
