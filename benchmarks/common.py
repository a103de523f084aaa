"""Helpers shared by the benchmark scripts: a header naming machine and versions, Markdown tables, atomic writes."""
from __future__ import annotations

import os
import platform
import sys
import time
from importlib import metadata


def versions(*names: str) -> str:
    out = []
    for n in names:
        try:
            out.append(f"{n} {metadata.version(n)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(out)


def header(title: str, command: str, threads: int | None = None) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), cpu)
    except OSError:
        pass
    lines = [f"# {title}", "",
             f"- command: `{command}`",
             f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
             f"- machine: {cpu}, {os.cpu_count()} cores" + (f", torch threads {threads}" if threads else ""),
             f"- python {sys.version.split()[0]}; " + versions("torch", "transformers", "torchao", "executorch",
                                                              "ctranslate2"),
             ""]
    return "\n".join(lines)


def table(headers: list[str], rows: list[list]) -> str:
    def fmt(x):
        return f"{x:.3f}" if isinstance(x, float) else str(x)
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(fmt(x) for x in r) + " |" for r in rows]
    return "\n".join(out)


def write_text(path, text: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
