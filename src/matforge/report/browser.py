"""Open a report in headless Chromium and read back its self-check (errors, empty plots).

No debugging protocol: the report's own script writes its findings into attributes of <body>
and `--dump-dom` returns them, which is robust and needs nothing beyond the browser binary.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader",
          "--disable-quic", "--no-first-run", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--enable-logging=stderr", "--v=0",
          "--virtual-time-budget=10000", "--window-size=1280,900", "--dump-dom")


@dataclass
class BrowserCheck:
    checked: bool  # the self-check script ran
    n_plots: int
    empty_plots: list[str]
    errors: list[str]  # page errors and console.error calls, plus uncaught errors in the log
    # tables that run past the window's right edge (1280 px wide): the page would scroll
    wide_tables: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.checked and not self.empty_plots and not self.errors


def find_chromium() -> str | None:
    for path in CHROMIUM_CANDIDATES:
        if Path(path).exists():
            return path
    return shutil.which("chromium")


def check_html(path: str | Path, timeout: float = 120.0) -> BrowserCheck:
    """Render `path` (a report written by `Report.write`) and return what its self-check saw."""
    binary = find_chromium()
    if binary is None:
        raise FileNotFoundError("chromium is not installed (Debian: apt-get install chromium)")
    url = Path(path).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="mf-chromium-") as profile:
        proc = subprocess.run([binary, *_FLAGS, f"--user-data-dir={profile}", url],
                              check=False, capture_output=True, text=True,
                              timeout=timeout)
    body = re.search(r"<body([^>]*)>", proc.stdout)
    attrs = dict(re.findall(r'(data-report-[a-z]+)="([^"]*)"', body.group(1) if body else ""))
    errors = [e for e in attrs.get("data-report-errors", "").split(" | ") if e]
    # Uncaught exceptions reach the browser log even when they escape the page's handler.
    errors += [line for line in proc.stderr.splitlines()
               if "CONSOLE" in line and "Uncaught" in line]
    empty = [e for e in attrs.get("data-report-empty", "").split(",") if e]
    wide = [e for e in attrs.get("data-report-wide", "").split(",") if e]
    return BrowserCheck(checked=attrs.get("data-report-checked") == "1",
                        n_plots=int(attrs.get("data-report-plots", "0") or 0),
                        empty_plots=empty, errors=errors, wide_tables=wide)
