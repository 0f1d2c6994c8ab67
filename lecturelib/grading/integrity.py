"""Catch a submission that makes the tests pass by changing the tests' machinery instead of solving them.

A test cell trusts the functions it calls: ``np.allclose``, ``torch.testing.assert_close``, ``math.isclose``,
the builtins, and the course's own oracles (``check_env``, ``mt.mlp``, ...). One line such as
``np.allclose = lambda *a, **k: True`` before a wrong solution would otherwise earn full marks. Two checks,
both run by the grading executor (:class:`lecturelib.grading.execute.GradingExecute`):

* **static**, before anything runs: every code cell that is not a test cell is parsed (magics turned into
  Python first) and searched for the ways to change what a test sees: assigning or deleting an attribute
  of an imported module or object (also through an alias, ``setattr``/``delattr``, ``sys.modules[...]``,
  ``__import__``), editing ``builtins``/``__builtins__``, writing ``sys.modules``, a module's ``__dict__``,
  ``vars()``/``globals()`` or a frame's ``f_globals``, replacing a function's ``__code__``/``__defaults__``,
  ``unittest.mock``, ``gc``/``ctypes``, the IPython shell object, ``exec``/``eval`` of code that cannot be
  read, and rebinding a name the tests use that the course bound with ``import``/``def``/``class``. Code
  inside functions counts too (a patch hidden in the solution runs when the test calls it).
* **runtime**, in the kernel: before the first cell the grader takes a fingerprint (identity, type, and
  for Python functions the code itself) of every attribute of the checking modules (:data:`WATCHED`),
  of ``torch.Tensor``'s methods and of ``sys.modules``, and later of the modules and functions the tests
  name; it compares after every cell and before and after every test cell. The fingerprints are kept by
  the grader, outside the kernel. A change names the cell after which it appeared.

A finding gives the test cell it affects an error output (``TamperingDetected: ...``), which nbgrader
scores 0 like any failed test: the note names the cell and what it changed. What neither check
catches is written down in docs/GRADING_SECURITY.md.
"""
from __future__ import annotations

import ast
import json
from dataclasses import dataclass

WATCHED = ("builtins", "math", "cmath", "operator", "numpy", "numpy.testing", "numpy.linalg", "torch",
           "torch.testing", "torch.nn.functional")
WATCHED_CLASSES = (("torch", "Tensor"),)
# builtins that IPython itself adds, removes or rebinds around every cell
VOLATILE = {"builtins._", "builtins.__", "builtins.___", "builtins.exit", "builtins.quit",
            "builtins.get_ipython", "builtins.display", "builtins.__IPYTHON__"}
HARMLESS_DUNDERS = {"__doc__", "__name__", "__qualname__", "__module__"}
SHELL_METHODS_FOR_MAGICS = {"run_line_magic", "run_cell_magic", "system", "getoutput"}


@dataclass
class Finding:
    cell: int      # index in nb.cells
    what: str


def cell_label(nb, index: int) -> str:
    cell = nb.cells[index]
    gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    number = sum(1 for c in nb.cells[:index + 1] if c.cell_type == "code")
    return f"cell {gid!r}" if gid else f"code cell {number}"


def is_test(cell) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("grade")) and cell.cell_type == "code"


def _python(source: str) -> ast.Module | None:
    from IPython.core.inputtransformer2 import TransformerManager
    try:
        return ast.parse(TransformerManager().transform_cell(source))
    except SyntaxError:
        return None   # it cannot run either; the cell's own error costs its points


def _dotted(node) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id] + parts[::-1])
    return None


class _Scanner(ast.NodeVisitor):
    """One cell's findings, given the aliases (name -> what it was imported as) seen so far."""

    def __init__(self, aliases: dict[str, str], oracles: dict[str, int], here: int):
        self.aliases, self.oracles, self.here, self.found = aliases, oracles, here, []

    def _root(self, node) -> str | None:
        """What a target expression refers to when it reaches into a module or an imported object."""
        while isinstance(node, (ast.Attribute, ast.Subscript)):
            if isinstance(node, ast.Subscript) and _dotted(node.value) in self._sys("modules"):
                return "sys.modules[...]"
            node = node.value
        if isinstance(node, ast.Call) and _dotted(node.func) in ("__import__", "importlib.import_module"):
            return "an imported module"
        if isinstance(node, ast.Name):
            if node.id in ("builtins", "__builtins__") or node.id in self.aliases:
                return self.aliases.get(node.id, node.id)
        return None

    def _sys(self, attr: str) -> set[str]:
        return {f"{n}.{attr}" for n, mod in self.aliases.items() if mod == "sys"} | {f"sys.{attr}"}

    def _resolve(self, node) -> str:
        text = _dotted(node) or ast.unparse(node)
        head, _, rest = text.partition(".")
        return (self.aliases.get(head, head) + ("." + rest if rest else "")) if head else text

    def flag(self, what: str):
        self.found.append(what)

    def visit_Import(self, node):
        for a in node.names:
            self.aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            if a.name in ("ctypes", "gc"):
                self.flag(f"imports {a.name}, which can rewrite the interpreter's objects")
            if a.name.startswith("unittest.mock"):
                self.flag("imports unittest.mock")
            self._rebinds(a.asname or a.name.split(".")[0], f"import {a.name}")

    def visit_ImportFrom(self, node):
        for a in node.names:
            self.aliases[a.asname or a.name] = f"{node.module}.{a.name}"
            if (node.module or "").startswith(("unittest.mock", "ctypes", "gc")) or \
                    (node.module == "unittest" and a.name == "mock"):
                self.flag(f"imports {a.name} from {node.module}")
            self._rebinds(a.asname or a.name, f"from {node.module} import {a.name}")

    def _rebinds(self, name: str, how: str | None = None):
        origin = self.oracles.get(name)
        if origin is not None and origin[0] != self.here and (how is None or how != origin[1]):
            self.flag(f"rebinds {name!r}, which the tests use (the course binds it in code cell {origin[2]})")

    def _store(self, target):
        if isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                self._store(t)
        elif isinstance(target, ast.Starred):
            self._store(target.value)
        elif isinstance(target, ast.Name):
            self._rebinds(target.id)
        elif isinstance(target, ast.Attribute):
            root = self._root(target.value)
            if root is not None:
                self.flag(f"replaces {self._resolve(target)}")
            elif target.attr.startswith("__") and target.attr.endswith("__") and target.attr not in HARMLESS_DUNDERS:
                self.flag(f"replaces {ast.unparse(target)} (a function's or object's internals)")
            elif target.attr in ("f_globals", "f_locals", "f_builtins"):
                self.flag(f"writes a frame's {target.attr}")
        elif isinstance(target, ast.Subscript):
            base = target.value
            text = _dotted(base) or ""
            if text in self._sys("modules"):
                self.flag("writes sys.modules")
            elif text.endswith(("__dict__", "f_globals", "f_locals", "f_builtins")) or \
                    (isinstance(base, ast.Call) and _dotted(base.func) in ("vars", "globals", "locals")) or \
                    text.split(".")[0] in ("__builtins__",):
                self.flag(f"writes {ast.unparse(base)}[...]")
            elif self._root(base) is not None and _dotted(base) is not None and \
                    self.aliases.get(text.split(".")[0]) == "builtins":
                self.flag(f"writes {self._resolve(base)}[...]")

    def visit_Assign(self, node):
        for t in node.targets:
            self._store(t)
        # `t = torch.testing` or `m = sys.modules["numpy"]`: later writes through t or m reach the module
        if len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) and self._root(node.value):
            self.aliases[node.targets[0].id] = self._resolve(node.value) if _dotted(node.value) else "a module"
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self._store(node.target)
        self.generic_visit(node)

    def visit_AnnAssign(self, node):
        self._store(node.target)
        self.generic_visit(node)

    def visit_Delete(self, node):
        for t in node.targets:
            self._store(t)

    def visit_FunctionDef(self, node):
        self._rebinds(node.name)
        self.generic_visit(node)   # a patch inside a function runs when the test calls it

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        self._rebinds(node.name)
        self.generic_visit(node)

    def visit_Global(self, node):
        for name in node.names:
            self._rebinds(name)

    def visit_Name(self, node):
        if node.id == "__builtins__":
            self.flag("uses __builtins__")

    def visit_Attribute(self, node):
        if node.attr in ("f_globals", "f_locals", "f_builtins", "__globals__") and isinstance(node.ctx, ast.Load):
            self.flag(f"reaches into {ast.unparse(node)}")
        self.generic_visit(node)

    def visit_Call(self, node):
        name = _dotted(node.func) or ""
        if name in ("setattr", "delattr", "object.__setattr__", "builtins.setattr", "type.__setattr__") and node.args:
            if self._root(node.args[0]) is not None or name != "setattr" and name != "delattr":
                self.flag(f"{name.split('.')[-1]}() on {self._resolve(node.args[0])}")
        head, _, method = name.rpartition(".")
        if head in self._sys("modules") and method in ("update", "setdefault", "pop", "popitem", "clear",
                                                        "__setitem__", "__delitem__"):
            self.flag(f"writes sys.modules ({method})")
        if method in ("update", "setdefault", "__setitem__") and (
                head.endswith("__dict__") or (isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Call)
                                              and _dotted(node.func.value.func) in ("vars", "globals"))):
            self.flag(f"writes {ast.unparse(node.func.value)} ({method})")
        if name in ("exec", "eval", "compile", "builtins.exec", "builtins.eval"):
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                tree = _python(node.args[0].value)
                if tree is not None:
                    self.visit(tree)
            else:
                self.flag(f"runs code with {name}() that cannot be checked before it runs")
        if isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Call) and \
                _dotted(node.func.value.func) == "get_ipython" and node.func.attr in SHELL_METHODS_FOR_MAGICS:
            for a in node.args + [k.value for k in node.keywords]:
                self.visit(a)
            return   # a magic (%matplotlib, !ls) turned into Python
        if name in ("get_ipython", "sys._getframe", "inspect.currentframe", "inspect.stack"):
            self.flag(f"calls {name}() (the shell or the interpreter's frames)")
        self.generic_visit(node)


def code_names(source: str) -> set[str]:
    """Names a cell binds at its top level (``def f``, ``x = ...``, imports)."""
    tree = _python(source)
    names = set()
    for node in tree.body if tree else []:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {a.asname or a.name.split(".")[0] for a in node.names}
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names |= {n.id for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


def test_names(nb) -> set[str]:
    """Names the test cells read (before binding them themselves)."""
    names = set()
    for cell in nb.cells:
        if not is_test(cell):
            continue
        tree = _python(cell.source)
        if tree is None:
            continue
        bound = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        names |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - bound
    return names


def static_findings(nb) -> list[Finding]:
    """What each non-test code cell does to the tests' machinery, in notebook order."""
    used = test_names(nb)
    aliases: dict[str, str] = {}
    oracles: dict[str, tuple] = {}    # name -> (cell index, import text or None, code cell number)
    findings = []
    code_number = 0
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        code_number += 1
        if is_test(cell):
            continue
        tree = _python(cell.source)
        if tree is None:
            continue
        scan = _Scanner(aliases, oracles, i)
        scan.visit(tree)
        findings += [Finding(i, w) for w in dict.fromkeys(scan.found)]
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            continue   # the student's own definitions are not oracles
        for node in tree.body:   # the course's top-level imports, functions and classes the tests use
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for a in node.names:
                    name = a.asname or a.name.split(".")[0]
                    how = f"import {a.name}" if isinstance(node, ast.Import) else f"from {node.module} import {a.name}"
                    if name in used:
                        oracles.setdefault(name, (i, how, code_number))
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in used:
                oracles.setdefault(node.name, (i, None, code_number))
    return findings


PROBE = r'''
import sys, json, types
keep = sys.__dict__.setdefault("_course_integrity_keep", [])
LIBS = tuple(p for p in {sys.prefix, sys.base_prefix, LECTURELIB} if p)
def mark(v, depth=0):
    c = v.__code__ if isinstance(v, types.FunctionType) else None
    extra = f":{hash((c.co_filename, c.co_firstlineno, c.co_code))}:{id(v.__defaults__)}" if c else ""
    text = f"{id(v)}:{type(v).__qualname__}{extra}"
    inner = getattr(v, "__wrapped__", None) if c and c.co_filename.startswith(LIBS) and depth < 3 else None
    if inner is not None:   # a library's own wrapper (torch wraps torch.manual_seed when dynamo loads)
        text += "|lib-wraps:" + mark(inner, depth + 1)
    return text
out = {}
def record(label, obj):
    keep.append(obj)
    for k, v in list(vars(obj).items()):
        out[f"{label}.{k}"] = mark(v)
for name in MODULES:
    m = sys.modules.get(name)
    if m is None:
        try:
            m = __import__(name, fromlist=["_"])
        except Exception:
            continue
    out[f"sys.modules[{name!r}]"] = mark(m)
    record(name, m)
for mod, cls in CLASSES:
    if mod in sys.modules and hasattr(sys.modules[mod], cls):
        record(f"{mod}.{cls}", getattr(sys.modules[mod], cls))
ns = sys.modules["__main__"].__dict__
for name in NAMES:   # the oracles: modules, functions and classes the tests name
    v = ns.get(name)
    if isinstance(v, (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type)):
        out[name] = mark(v)
        if isinstance(v, types.ModuleType) and v.__name__ not in MODULES:
            record(v.__name__, v)
result = json.dumps(out)
'''


def probe_expression(names: set[str]) -> str:
    """A user expression whose value is the fingerprint JSON. It runs in a fresh globals dict, so the
    student's global names cannot shadow what the probe calls."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("lecturelib")
    lecturelib = str(Path(spec.origin).resolve().parent) if spec and spec.origin else ""
    code = (f"MODULES = {list(WATCHED)!r}\nCLASSES = {list(WATCHED_CLASSES)!r}\nNAMES = {sorted(names)!r}\n"
            f"LECTURELIB = {lecturelib!r}\n" + PROBE)
    return f"(lambda g: (exec({code!r}, g), g['result'])[1])({{}})"


def read_probe(reply: dict) -> dict[str, str] | None:
    value = reply.get("content", {}).get("user_expressions", {}).get("integrity", {})
    if value.get("status") != "ok":
        return None
    return json.loads(ast.literal_eval(value["data"]["text/plain"]))


def changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Watched things that differ (replaced, wrapped, deleted); names that only appeared are not changes."""
    out = []
    for key, mark in before.items():
        if key in VOLATILE:
            continue
        if key not in after:
            out.append(f"deleted {key}")
        elif after[key] != mark and not after[key].endswith("|lib-wraps:" + mark):
            out.append(f"replaced {key}")
    return out
