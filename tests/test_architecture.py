"""The layout rules a reviewer checks: the folder path is the import path, imports flow export -> core only, and
no private helper is used across modules."""
import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import myqasr
import myqasr.plan
import myqasr_export

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "sdk" / "myqasr"
EXPORT = ROOT / "export" / "myqasr_export"


def imported_modules(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every import statement in a file, at any depth (lazy imports inside functions too)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = ("." * node.level) + (node.module or "")
            out.append((mod, [a.name for a in node.names]))
    return out


def test_folder_path_is_import_path():
    assert Path(myqasr.__file__).resolve() == CORE / "__init__.py"
    assert Path(myqasr.plan.__file__).resolve() == CORE / "plan.py"
    assert Path(myqasr_export.__file__).resolve() == EXPORT / "__init__.py"


def test_core_never_imports_the_export_side_or_executorch():
    offenders = []
    for path in sorted(CORE.rglob("*.py")):
        for mod, _ in imported_modules(path):
            if mod.split(".")[0] in ("myqasr_export", "executorch") or mod.startswith("myqasr.export") \
                    or mod.startswith(".export"):
                offenders.append(f"{path.relative_to(ROOT)}: {mod}")
    assert not offenders, offenders


def test_importing_every_core_module_loads_no_executorch():
    modules = sorted(f"myqasr.{p.stem}" for p in CORE.glob("*.py") if p.stem not in ("__init__", "__main__"))
    code = ("import sys\n" + "".join(f"import {m}\n" for m in modules) +
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('executorch', 'myqasr_export'))\n"
            "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert len(modules) >= 15 and out == ""


def test_no_private_name_is_imported_across_modules():
    offenders = []
    for root in (CORE, EXPORT, ROOT / "benchmarks"):
        for path in sorted(root.rglob("*.py")):
            for mod, names in imported_modules(path):
                if not (mod.startswith(".") or mod.split(".")[0] in ("myqasr", "myqasr_export", "benchmarks")):
                    continue
                private = [n for n in names if n.startswith("_") and not n.startswith("__")]
                if private:
                    offenders.append(f"{path.relative_to(ROOT)}: from {mod} import {', '.join(private)}")
    assert not offenders, offenders


def test_python_dash_m_runs_both_command_lines():
    for pkg, commands in (("myqasr", ["plan", "eval", "info", "stats"]),
                          ("myqasr_export", ["plan", "export", "run", "personalize"])):
        out = subprocess.run([sys.executable, "-m", pkg, "--help"], capture_output=True, text=True, check=True).stdout
        assert all(c in out for c in commands), (pkg, out)


def test_a_non_editable_wheel_holds_both_packages_and_the_sample_user(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("myqasr-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"myqasr/plan.py", "myqasr/config.py", "myqasr_export/cli.py", "myqasr_export/verify.py",
            "myqasr/data/sample_user/calib/000.wav", "myqasr/data/sample_user/test/008.txt"} <= names
    assert not any(n.startswith(("sdk/", "export/", "tests/")) for n in names)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "myqasr = myqasr_export.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
