"""Review of the sandbox: secrets stay out of a candidate's reach; harmless code is not refused.

F1: a candidate read the API key from ``/proc/<pid>/environ`` of the FairNAD process (and the
project folder) after reaching ``open`` through ``typing.get_type_hints``. Closed in depth: the
static check refuses every door that evaluates a string it cannot see; at run time a worker
reads only its own ``/proc`` folder (audit hook and Landlock), not the project folder; no
child's environment holds a secret; the FairNAD process is non-dumpable.

F2: code that only looks like an escape (a parameter named ``input``, ``self.types``, a
docstring that mentions ``__import__``) verifies ``ok``; the real escapes stay refused.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from fairnad_tools.isolation.proc import child_env, scrub_secrets
from fairnad_tools.verify.static import check_source
from tests.conftest import ROOT, run_cli
from tests.test_sandbox import needs_landlock, run_probe

pytestmark = pytest.mark.timeout(240)

# Far above the work of a small model on a loaded machine: the verdict never depends on speed.
LIMIT_S = 60
ATTACK = Path(__file__).resolve().parent / "verifier_corpus" / "broken" / "type_hints_environ_leak.py"


# -- F1 (a): the attack, end to end ------------------------------------------------------------
def test_the_environ_leak_attack_is_refused_and_never_prints_the_key():
    secret = "sk-test-SECRET-4242"
    result = run_cli("verify", str(ATTACK), "--json", "--timeout", str(LIMIT_S), env={"FAIRNAD_LLM__API_KEY": secret})
    assert secret not in result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["code"] == "forbidden_call", report
    assert "__annotations__" in report["message"] or "get_type_hints" in report["message"], report


# -- F1 (b): what a guarded worker may read ----------------------------------------------------
PROC_PROBE = textwrap.dedent(
    """
    import ctypes, io, json, os, subprocess, sys
    from pathlib import Path
    import torch
    from torch import nn
    from fairnad_tools.measure import count_macs
    from fairnad_tools.isolation.guard import MARK, install_guard

    work, project = Path(sys.argv[1]), Path(sys.argv[2])
    # another process of the same user, with a secret in its environment (ends when our stdin pipe closes)
    other = subprocess.Popen([sys.executable, "-c", "import sys; print('ready', flush=True); sys.stdin.read()"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={"PROBE_SECRET": "sk-probe-77"})
    assert other.stdout.readline() == b"ready\\n"  # started: its environment is the one given
    control = open(f"/proc/{other.pid}/environ", "rb").read()  # readable before the guard
    libc = ctypes.CDLL(None, use_errno=True)
    native_open = libc.open  # resolved before the guard: native code, unseen by the audit hook
    abi = install_guard(read=[], write=[work])
    targets = {
        "init environ": "/proc/1/environ",
        "parent environ": f"/proc/{os.getppid()}/environ",
        "sibling environ": f"/proc/{other.pid}/environ",
        "sibling cmdline": f"/proc/{other.pid}/cmdline",
        "project git config": str(project / ".git" / "config"),
        "project readme": str(project / "README.md"),
        "project settings example": str(project / "fairnad.example.toml"),
    }
    result = {"abi": abi, "control": b"sk-probe-77" in control, "python": {}, "native": {}, "ok": {}}
    for what, path in targets.items():
        try:
            open(path, "rb").read()
            result["python"][what] = "ALLOWED"
        except PermissionError as exc:
            result["python"][what] = "refused" if MARK in str(exc) else f"os: {exc}"
        fd = native_open(path.encode(), os.O_RDONLY)
        result["native"][what] = "opened" if fd >= 0 else f"errno {ctypes.get_errno()}"
    for what, folder in (("list /proc", "/proc"), ("list project", str(project)), ("list .git", str(project / ".git"))):
        try:
            os.listdir(folder)
            result["python"][what] = "ALLOWED"
        except PermissionError as exc:
            result["python"][what] = "refused" if MARK in str(exc) else f"os: {exc}"
        fd = native_open(folder.encode(), os.O_RDONLY | os.O_DIRECTORY)
        result["native"][what] = "opened" if fd >= 0 else f"errno {ctypes.get_errno()}"

    # ordinary model code under the same guard
    def ok(what, fn):
        try:
            fn()
            result["ok"][what] = "ok"
        except Exception as exc:
            result["ok"][what] = f"{type(exc).__name__}: {exc}"

    ok("own /proc files", lambda: [open(f"/proc/self/{n}").read() for n in ("status", "maps", "cgroup", "stat")])
    ok("own environ", lambda: open("/proc/self/environ", "rb").read())
    ok("cpu and memory information", lambda: (open("/proc/cpuinfo").read(), open("/proc/meminfo").read(),
                                              os.listdir("/sys/devices/system/cpu")))
    ok("threads", lambda: (torch.set_num_threads(2), torch.get_num_threads(), torch.set_num_threads(1)))
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    ok("print tensors", lambda: print(torch.randn(2, 3), model, file=io.StringIO()))
    ok("count MACs", lambda: count_macs(model, (3, 8, 8)))

    def train():
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        x, y = torch.randn(16, 3, 8, 8), torch.randint(0, 4, (16,))
        for _ in range(3):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()

    ok("train a small model", train)
    print(json.dumps(result))
    """
)


def test_a_guarded_worker_reads_neither_other_processes_nor_the_project_folder(tmp_path):
    stdout = run_probe(PROC_PROBE, tmp_path, ROOT)
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["control"], "the other process's environment was not readable before the guard"
    assert set(result["python"].values()) == {"refused"}, result["python"]  # the audit hook, on any kernel
    assert set(result["ok"].values()) == {"ok"}, result["ok"]
    if result["abi"]:  # Landlock: native code too (EACCES)
        assert set(result["native"].values()) == {"errno 13"}, result["native"]


NATIVE_PROC_PROBE = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    from fairnad_tools.isolation.landlock import restrict

    pid = os.fork()  # as the fork server does: the child confines itself, after the fork
    if pid == 0:
        restrict(read=[], write=[sys.argv[1]])
        out = {}
        for what, path in (("own status", "/proc/self/status"), ("own pid folder", f"/proc/{os.getpid()}/status"),
                           ("thread-self", "/proc/thread-self/status"), ("cpuinfo", "/proc/cpuinfo"),
                           ("parent", f"/proc/{os.getppid()}/status"), ("init", "/proc/1/status"),
                           ("proc listing", "/proc")):
            try:
                os.close(os.open(path, os.O_RDONLY))
                out[what] = "opened"
            except OSError as exc:
                out[what] = f"errno {exc.errno}"
        Path(sys.argv[1], "out.json").write_text(json.dumps(out))
        os._exit(0)
    os.waitpid(pid, 0)
    print(Path(sys.argv[1], "out.json").read_text())
    """
)


@needs_landlock
def test_landlock_gives_a_forked_child_its_own_proc_folder_only(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAIRNAD_")}
    env["PYTHONPATH"] = str(ROOT)
    out = json.loads(run_probe(NATIVE_PROC_PROBE, tmp_path, env=env).strip().splitlines()[-1])
    assert {k: out[k] for k in ("own status", "own pid folder", "thread-self", "cpuinfo")} == dict.fromkeys(
        ("own status", "own pid folder", "thread-self", "cpuinfo"), "opened"
    ), out
    assert {k: out[k] for k in ("parent", "init", "proc listing")} == dict.fromkeys(
        ("parent", "init", "proc listing"), "errno 13"
    ), out


def test_a_read_root_that_would_expose_other_processes_is_not_granted():
    from fairnad_tools.isolation.landlock import exposes_other_processes

    assert exposes_other_processes("/proc") and exposes_other_processes("/")
    assert exposes_other_processes("/proc/1") and exposes_other_processes("/proc/1/environ")
    assert not exposes_other_processes(f"/proc/{os.getpid()}/status")
    assert not exposes_other_processes("/proc/cpuinfo") and not exposes_other_processes("/sys/devices/system/cpu")
    assert not exposes_other_processes(ROOT)


# -- F1 (c): children's environment, the main process ----------------------------------------
def test_no_child_environment_holds_a_secret(monkeypatch):
    monkeypatch.setenv("FAIRNAD_LLM__API_KEY", "sk-test-SECRET-123")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-0000000")
    monkeypatch.setenv("HF_TOKEN", "hf_0000000000")
    env = child_env({"COPY": "prefix sk-test-SECRET-123", "MY_PASSWORD": "x", "OMP_NUM_THREADS": "2"})
    assert not any(s in v for v in env.values() for s in ("sk-test-SECRET-123", "sk-openai", "hf_0000"))
    assert "COPY" not in env and "MY_PASSWORD" not in env and env["OMP_NUM_THREADS"] == "2"
    # what a caller passes explicitly is scrubbed too
    assert scrub_secrets({"A": "1", "GITHUB_TOKEN": "t", "B": "sk-test-SECRET-123"}) == {"A": "1"}


DUMPABLE_PROBE = textwrap.dedent(
    """
    import ctypes, subprocess, sys
    from fairnad_tools.isolation.proc import hide_from_same_user

    libc = ctypes.CDLL(None)
    before = libc.prctl(3, 0, 0, 0, 0)  # PR_GET_DUMPABLE
    hidden = hide_from_same_user()
    child = subprocess.run([sys.executable, "-c", "import ctypes; print(ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))"],
                           capture_output=True, text=True).stdout.strip()
    print(before, hidden, libc.prctl(3, 0, 0, 0, 0), child)
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux only")
def test_the_fairnad_process_hides_from_same_user_processes_but_its_children_do_not():
    before, hidden, after, child = run_probe(DUMPABLE_PROBE).split()
    assert (before, hidden, after, child) == ("1", "True", "0", "1")


# -- F1 (a) and F2: the static check -------------------------------------------------------------
HEAD = "import functools\nimport operator\nimport typing\nimport dataclasses\nimport collections\n"
HEAD += "import torch\nfrom torch import nn\nimport torch.nn.functional as F\n\n"
TAIL = "\n\ndef build_model(num_classes):\n    return nn.Linear(4, num_classes)\n"


def static(body: str):
    return check_source(HEAD + textwrap.dedent(body).strip("\n") + TAIL)


# Harmless code that only looks like an escape: every one passes the static check.
HARMLESS = {
    # builtins shadowed by a binding in scope (symtable)
    "parameter_named_input": """
        class Block(nn.Module):
            def __init__(self, c):
                super().__init__()
                self.conv = nn.Conv2d(c, c, 3, padding=1)

            def forward(self, input):
                return F.relu(self.conv(input)) + input
    """,
    "local_named_exit": """
        def head(h, exit_head, fc):
            exit = exit_head(h)
            return 0.5 * (exit + fc(h))
    """,
    "loop_variable_named_input": """
        def total(chunks):
            out = 0
            for input in chunks:
                out = out + input.sum()
            return out
    """,
    "comprehension_variables_named_open_and_vars": """
        def widths(xs):
            return [open * 2 for open in xs] + list({vars: 1 for vars in xs})
    """,
    "module_level_comprehension_and_generator": """
        WIDTHS = [exit + 1 for exit in range(3)]
        SIZES = tuple(input * 2 for input in (1, 2))
    """,
    "lambda_parameter_named_input": "double = lambda input: input * 2\n",
    "enclosing_function_local": """
        def outer():
            exit = 1

            def inner():
                return exit + 1

            return inner()
    """,
    "except_and_walrus_names": """
        def check(xs):
            try:
                return len(xs)
            except TypeError as input:
                return str(input)
            if (compile := len(xs)) > 2:
                return compile
    """,
    "module_level_assignment_before_use": """
        vars = ("conv", "pool")

        def names():
            return list(vars)
    """,
    "module_level_def_named_exit": """
        def exit(h):
            return h.mean((2, 3))

        class Head(nn.Module):
            def forward(self, x):
                return exit(x)
    """,
    "recursive_module_level_def": """
        def input(n):
            return 1 if n <= 1 else n * input(n - 1)
    """,
    "import_alias_shadows_a_builtin": """
        from torch.nn import functional as input

        def act(x):
            return input.relu(x)
    """,
    "class_named_input": """
        class input(nn.Module):
            def forward(self, x):
                return x

        def make():
            return input()
    """,
    "class_attribute_read_through_self": """
        class Config:
            compile = False

            def flags(self):
                return (self.compile,)
    """,
    "global_statement_rebinding": """
        exit = 0

        def count():
            global exit
            exit += 1
            return exit
    """,
    # attributes named like modules on a method's own self or cls
    "self_attributes_named_like_modules": """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.types = ["conv", "conv"]
                self.platform = "cpu"
                self.inspect = False
                self.types.append("pool")

            def forward(self, x):
                kinds = [t for t in self.types if hasattr(self, "inspect")]
                later = lambda: self.platform
                return x * len(kinds) if getattr(self, "types") and later() else x

            @classmethod
            def variant(cls):
                return cls.system if hasattr(cls, "system") else None
    """,
    # docstrings are never executed (a module's own docstring: test_a_module_docstring_is_not_checked)
    "docstrings_naming_escapes": '''
        class Block(nn.Module):
            """Unlike a sandbox escape, this never touches __globals__ or __builtins__."""

            def forward(self, x):
                """Returns x; __code__ and __loader__ are not read."""
                return x
    ''',
    # ordinary typing, dataclasses, functools, operator, collections and torch stay allowed
    "ordinary_library_use": """
        from typing import Literal, NamedTuple, Optional

        Spec = NamedTuple("Spec", [("width", int), ("depth", int)])

        @dataclasses.dataclass
        class Cfg:
            width: int = 16
            pool: Literal["max pool", "avg"] = "avg"
            scale: float | None = None
            extra: list = dataclasses.field(default_factory=list)

        class Net(nn.Module):
            def forward(self, x: "torch.Tensor", mask: Optional["torch.Tensor"] = None) -> torch.Tensor:
                torch._check(x.dim() == 4)
                if torch.jit.is_scripting():
                    return x
                act = getattr(nn, "ReLU")()
                mul = functools.partial(operator.mul, 2)
                order = collections.OrderedDict(a=1)
                return act(mul(x)) * len(order) * (type(x) is torch.Tensor)
    """,
}


@pytest.mark.parametrize("name", sorted(HARMLESS))
def test_harmless_code_passes_the_static_check(name):
    report = static(HARMLESS[name])
    assert report is None, f"{name}: {report.code}: {report.message}"


def test_a_module_docstring_is_not_checked_but_a_later_string_is():
    doc = '"""Blocks. No __import__, eval or exec is used, and nothing walks __subclasses__."""\n'
    assert check_source(doc + HEAD + TAIL) is None
    report = check_source(HEAD + doc + TAIL)  # after the imports it is an ordinary string, not a docstring
    assert report is not None and "introspection escape" in report.message, report


# Real escapes, and the doors that evaluate strings: every one is refused, with a message naming it.
REFUSED = {
    # builtins that really are the builtins
    "open_call": ("def f():\n    return open('/etc/hostname').read()", "open"),
    "exec_call": ("def f():\n    exec('x = 1')", "exec"),
    "eval_call": ("def f():\n    return eval('1')", "eval"),
    "compile_call": ("def f():\n    return compile('1', 'f', 'eval')", "compile"),
    "dunder_import": ("def f():\n    return __import__('os')", "__import__"),
    "globals_call": ("def f():\n    return globals()['torch']", "globals"),
    "vars_call": ("def f():\n    return vars()", "vars"),
    "breakpoint_call": ("def f():\n    breakpoint()", "breakpoint"),
    "input_call": ("def f():\n    return input()", "input"),
    "exit_call": ("def f():\n    exit()", "exit"),
    "builtins_rebound": ("__builtins__ = {}", "__builtins__"),
    # a binding that does not shadow everywhere
    "captured_before_module_binding": ("_read = open\nopen = None", "open"),
    "helper_defined_before_binding": ("def f():\n    return open('/x')\n\n\nX = f()\nopen = None", "open"),
    "conditional_module_binding": (
        "if torch.cuda.is_available():\n    open = None\n\n\ndef f():\n    return open('/x')",
        "open",
    ),
    "module_loop_binding_may_not_run": ("for open in []:\n    pass\n\n\ndef f():\n    return open('/x')", "open"),
    "deleted_after_binding": ("open = None\ndel open\n\n\ndef f():\n    return open('/x')", "open"),
    "deleted_through_global": (
        "open = None\n\n\ndef g():\n    global open\n    del open\n\n\ndef f():\n    return open('/x')",
        "open",
    ),
    "class_body_before_its_binding": ("class A:\n    data = open('/x')\n    open = None", "open"),
    "comprehension_in_class_body": ("class A:\n    open = None\n    data = [open('/x') for _ in range(1)]", "open"),
    # a class body's own binding never counts: a metaclass's namespace could drop it, and the lookup would fall
    # through to the builtin (metaclasses are refused too, but the rule does not lean on that)
    "class_body_binding_then_use": ("class A:\n    open = None\n    data = open('/etc/hostname')", "open"),
    "decorator_runs_before_binding": ("@(lambda f: f())\ndef open():\n    return open('/x')", "open"),
    "default_runs_before_binding": ("def open(p=(lambda: open('/etc/hostname'))()):\n    return p", "open"),
    "getattr_passed_on": ("def f():\n    return functools.reduce(getattr, ['o' + 's'], torch)", "getattr"),
    "getattr_aliased": ("g = getattr", "getattr"),
    "computed_getattr": ("def f():\n    return getattr(torch, 'o' + 's')", "computed attribute name"),
    "type_with_three_arguments": ("C = type('C', (), {})", "type(name, bases, namespace)"),
    "star_import": ("from typing import *", "import *"),
    # modules reached as attributes
    "torch_os": ("def f():\n    return torch.os", "'os'"),
    "typing_sys": ("def f():\n    return typing.sys.modules", "'sys'"),
    "functional_np": ("def f():\n    return F.np", "'np'"),
    "attribute_of_a_variable": ("def f(x):\n    return x.y.os", "'os'"),
    "dataclasses_inspect": ("def f():\n    return dataclasses.inspect", "'inspect'"),
    "self_outside_a_method": ("def f(self):\n    return self.os", "'os'"),
    "self_of_a_static_method": ("class A:\n    @staticmethod\n    def f(self):\n        return self.os", "'os'"),
    "rebound_self": ("class A:\n    def f(self):\n        self = torch\n        return self.os", "'os'"),
    "self_rebound_by_a_nested_function": (
        "class A:\n    def f(self):\n        def g():\n            nonlocal self\n            self = torch\n\n"
        "        g()\n        return self.os",
        "'os'",
    ),
    "attribute_of_an_attribute_of_self": ("class A:\n    def f(self):\n        return self.x.os", "'os'"),
    "literal_getattr_of_a_module": ("def f():\n    return getattr(torch, 'os')", "'os'"),
    "from_torch_import_os": ("from torch import os as o", "torch.os"),
    "import_torch_os": ("import torch.os", "torch.os"),
    # dunder escapes stay refused everywhere, self included
    "builtins_through_self_of_a_builtin": ("def f():\n    return len.__self__", "__self__"),
    "frame_builtins": (
        "def f():\n    try:\n        1 / 0\n    except ZeroDivisionError as e:\n        return e.__traceback__.tb_frame",
        "tb_frame",
    ),
    "dict_of_self": ("class A:\n    def f(self):\n        return self.__dict__", "__dict__"),
    "bases_of_self_class": ("class A:\n    def f(self):\n        return self.__class__.__bases__", "__bases__"),
    # code evaluated from strings
    "get_type_hints": ("def f(g):\n    return typing.get_type_hints(g)", "get_type_hints"),
    "get_type_hints_imported": ("from typing import get_type_hints", "get_type_hints"),
    "get_type_hints_through_an_alias": ("t = typing\n\n\ndef f(g):\n    return t.get_type_hints(g)", "get_type_hints"),
    "forward_ref": ("R = typing.ForwardRef('x')", "ForwardRef"),
    "forward_ref_evaluated": (
        "def f():\n    return typing.List['x'].__args__[0]._evaluate(None, None, frozenset())",
        "_evaluate",
    ),
    "annotations_written": ("def probe(a):\n    return a\n\n\nprobe.__annotations__ = {'a': 'x'}", "__annotations__"),
    "annotations_read": ("def probe(a: int):\n    return a\n\n\nA = probe.__annotations__", "__annotations__"),
    "annotations_by_setattr": ("def g(a):\n    return a\n\n\nsetattr(g, '__annotations__', {})", "__annotations__"),
    "annotations_in_a_class_body": ("class A:\n    __annotations__['x'] = int", "__annotations__"),
    "annotations_as_a_namespace_key": ("NS = {'__annotations__': {}}", "introspection escape"),
    "singledispatch": ("@functools.singledispatch\ndef f(x):\n    return x", "singledispatch"),
    "singledispatch_imported": ("from functools import singledispatchmethod", "singledispatchmethod"),
    "dataclasses_function_builder": ("F2 = dataclasses._create_fn('f', [], ['return 1'])", "_create_fn"),
    "dataclasses_builder_imported": ("from dataclasses import _create_fn", "_create_fn"),
    "typing_private_evaluator": ("def f():\n    return typing._eval_type('int', {}, {})", "_eval_type"),
    "typing_private_name": ("def f():\n    return typing._GenericAlias", "private to the standard library"),
    "attrgetter": ("G = operator.attrgetter('os')", "attrgetter"),
    "torchscript_compilation_unit": ("U = torch.jit.CompilationUnit('def f(x):\\n    return x')", "CompilationUnit"),
    "torchscript_script": ("def f(x):\n    return x\n\n\nS = torch.jit.script(f)", "torch.jit.script"),
    "torchscript_define": ("def f(m):\n    m.define('def g(self, x):\\n    return x')", "define"),
    "fx_code_generation": ("def f(m):\n    return torch.fx.symbolic_trace(m)", "torch.fx"),
    "benchmark_statement_strings": ("T = torch.utils.benchmark.Timer(stmt='1')", "torch.utils.benchmark"),
    "torch_private_submodule": ("def f():\n    return torch._jit_internal", "private torch module"),
    "torch_private_nested_submodule": ("def f(x):\n    return torch.utils._pytree.tree_flatten(x)", "private torch"),
    "torch_private_import": ("from torch import _C", "torch._C"),
    "computed_annotation": ("def f(a: 'op' + 'en'):\n    return a", "computes a value"),
    "call_in_a_string_annotation": ("def f(a: \"eval('1')\"):\n    return a", "eval"),
    "builtin_in_a_string_annotation": ("def f(a: 'open') -> int:\n    return a", "open"),
    # metaclasses and dataclass internals: they decide what dataclasses compiles
    "metaclass_keyword": ("class Meta:\n    pass\n\n\nclass A(metaclass=Meta):\n    pass", "metaclass"),
    "subclass_of_type": ("class Meta(type):\n    pass", "metaclass"),
    "dataclass_fields_set_by_hand": ("class B:\n    __dataclass_fields__ = {}", "__dataclass_fields__"),
    # strings that are not docstrings
    "second_string_of_a_function": ('def f():\n    """doc"""\n    "__import__"', "introspection escape"),
    "assigned_string": ("NAME = '__subclasses__'", "introspection escape"),
    "string_in_an_f_string": ("def f(x):\n    return f'{x}.__globals__'", "introspection escape"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_escapes_and_string_evaluation_are_refused(name):
    body, word = REFUSED[name]
    report = static(body)
    assert report is not None, f"{name}: passed the static check"
    assert report.code in ("forbidden_call", "forbidden_import"), f"{name}: {report.code}: {report.message}"
    assert word in report.message, f"{name}: {report.message}"


# dataclasses compiles methods from field names: a name that is not an identifier is refused at run time,
# however it got into the class (a metaclass, a namespace built from computed keys, a base's fields).
DATACLASS_PROBE = textwrap.dedent(
    """
    import dataclasses, sys, typing
    from fairnad_tools.isolation.guard import MARK, install_guard

    install_guard(read=[], write=[sys.argv[1]])

    @dataclasses.dataclass(frozen=True)
    class Cfg:
        width: int = 16
        extra: list = dataclasses.field(default_factory=list)

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Wider(Cfg):
        depth: int = 2

    Made = dataclasses.make_dataclass("Made", [("a", int), ("b", float, 0.5)])
    Spec = typing.NamedTuple("Spec", [("w", int)])
    print("ordinary", Cfg(), Wider(depth=3), Made(1), Spec(4))

    payload = "x=print('INJECTED') or 1"
    namespace = {"__annot" + "ations__": {payload: int}}  # keys no static check can read
    try:
        dataclasses.dataclass(type("Evil", (), namespace))
        print("ALLOWED")
    except PermissionError as exc:
        print("refused" if MARK in str(exc) and payload in str(exc) else f"OTHER {exc}")
    """
)


def test_dataclasses_never_compile_a_field_name_that_is_not_an_identifier(tmp_path):
    stdout = run_probe(DATACLASS_PROBE, tmp_path)
    assert "ordinary Cfg(width=16, extra=[])" in stdout and "Wider(width=16, extra=[], depth=3)" in stdout, stdout
    assert stdout.rstrip().endswith("refused") and "INJECTED" not in stdout, stdout


FILE_ROOT_PROBE = textwrap.dedent(
    """
    import ctypes, os, sys
    from pathlib import Path
    from fairnad_tools.isolation.guard import MARK, install_guard

    folder = Path(sys.argv[1])
    (folder / "out").mkdir()
    model, notes = folder / "model.py", folder / "notes.txt"
    model.write_text("WIDTH = 16\\n")
    notes.write_text("not the candidate's")
    native_open = ctypes.CDLL(None, use_errno=True).open
    abi = install_guard(read=[model], write=[folder / "out"])  # one file, not its folder
    print("model", open(model).read().strip())
    try:
        open(notes).read()
        print("ALLOWED sibling")
    except PermissionError as exc:
        print("refused sibling" if MARK in str(exc) else f"OTHER {exc}")
    if abi:
        print("native sibling", "opened" if native_open(str(notes).encode(), os.O_RDONLY) >= 0 else "refused")
    """
)


def test_a_single_file_can_be_granted_without_its_folder(tmp_path):
    """A caller that grants the candidate's file, not its folder, keeps the files beside it (a project's own) closed."""
    stdout = run_probe(FILE_ROOT_PROBE, tmp_path)
    assert "model WIDTH = 16" in stdout and "refused sibling" in stdout, stdout
    assert "native sibling opened" not in stdout, stdout
