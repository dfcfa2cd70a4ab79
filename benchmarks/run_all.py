"""``make bench``: every benchmark module, one device, one table, one JSON file.

Each module in :data:`MODULES` defines ``run(device) -> list[dict]`` (see
README.md here). They run in this order in one process on one device, so every
ratio compares two things measured side by side. A module that is not in the
checkout, or that fails, gets a row saying so instead of silently dropping out.
The figures, with versions, the device, the CPU count, the load average and
the date, go to ``benchmarks/results/<device name>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import re
import sys
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

import redundancy  # noqa: E402

MODULES = ["training", "stacked", "conv2", "pruning_sweep", "subspace_sweep", "pruned_speed", "end_to_end", "contention", "spec_grid"]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: str) -> str:
    """Human name of the device: the GPU's name, or the CPU model and its core count."""
    if torch.device(device).type == "cuda":
        return torch.cuda.get_device_name(torch.device(device))
    return f"{cpu_model()}, {os.cpu_count()} cores"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def run_module(name: str, device: str) -> list[dict[str, Any]]:
    """The module's rows; a missing or failing module becomes one row that says so."""
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        return [{"benchmark": name, "status": "missing", "note": f"benchmarks/{name}.py is not in this checkout"}]
    start = time.perf_counter()
    try:
        rows = list(module.run(device))
    except Exception as exc:  # a failing benchmark must not hide the others
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return [{"benchmark": name, "status": "failed", "note": last}]
    seconds = time.perf_counter() - start
    for r in rows:
        r.setdefault("status", "measured")
        r["module"] = name
        r["module_seconds"] = round(seconds, 1)
    return rows


def fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
    return str(value)


def table(rows: list[dict[str, Any]], title: str) -> Table:
    t = Table(title=title, show_lines=False)
    for column, justify in [("benchmark", "left"), ("textbook", "right"), ("engine", "right"), ("unit", "left"), ("ratio", "right"), ("target", "left"), ("note", "left")]:
        t.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for r in rows:
        if r.get("status") != "measured":
            t.add_row(r["benchmark"], "–", "–", "", r.get("status", ""), "", r.get("note", ""))
            continue
        ratio = f"{r['ratio']:.2f}×" if r.get("ratio") is not None else "–"
        t.add_row(r["benchmark"], fmt(r.get("textbook")), fmt(r.get("engine")), r.get("unit", ""), ratio, r.get("target", ""), r.get("note", ""))
    return t


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cuda (default when present) or cpu")
    parser.add_argument("--only", nargs="*", choices=MODULES, help="run only these modules")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="folder for the JSON results")
    args = parser.parse_args(argv)
    device = args.device
    name = device_name(device)
    console = Console(width=None if sys.stdout.isatty() else 200)
    console.print(f"[bold]benchmarks on {name}[/bold] ({device}, {torch.get_num_threads()} threads)")
    load_before = os.getloadavg()
    started = dt.datetime.now(dt.timezone.utc)
    rows: list[dict[str, Any]] = []
    for module in args.only or MODULES:
        console.print(f"running {module} ...")
        rows += run_module(module, device)
    load_after = os.getloadavg()
    console.print(table(rows, f"{name} — load average {load_before[0]:.1f} before, {load_after[0]:.1f} after"))
    result = {
        "device": device,
        "device_name": name,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "date": started.isoformat(timespec="seconds"),
        "seconds": round((dt.datetime.now(dt.timezone.utc) - started).total_seconds(), 1),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "versions": {
            "redundancy": redundancy.__version__,
            "torch": torch.__version__,
            "cuda": torch.version.cuda or "none",
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{slug(name)}.json"
    if args.only and path.exists():
        # --only re-measures some modules: the other modules' rows (with their own dates) stay
        try:
            earlier = json.loads(path.read_text())
        except (OSError, ValueError):
            earlier = {}
        kept = [r for r in earlier.get("rows", []) if r.get("module", r.get("benchmark")) not in args.only]
        for r in kept:
            r.setdefault("date", earlier.get("date"))
        result["rows"] = kept + rows
    path.write_text(json.dumps(result, indent=2, default=float) + "\n")
    console.print(f"written {path.relative_to(HERE.parent) if path.is_relative_to(HERE.parent) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
