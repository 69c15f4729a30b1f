"""Copy the pinned browser libraries from node_modules/ into runtime/static/vendor/.

Run after ``npm ci`` (``make vendor`` does both). The vendor folder is git-ignored:
package.json and package-lock.json are the record of what ships. Without node_modules
the script runs ``npm ci`` itself when npm is on the PATH.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
VENDOR = ROOT / "runtime" / "static" / "vendor"

# source (relative to node_modules) -> target (relative to runtime/static/vendor)
FILES: dict[str, str] = {
    "htmx.org/dist/htmx.min.js": "htmx/htmx.min.js",
    "htmx.org/LICENSE": "htmx/LICENSE",
    "sortablejs/Sortable.min.js": "sortablejs/Sortable.min.js",
    "sortablejs/LICENSE": "sortablejs/LICENSE",
    "gridstack/dist/gridstack-all.js": "gridstack/gridstack-all.js",
    "gridstack/dist/gridstack.min.css": "gridstack/gridstack.min.css",
    "gridstack/LICENSE": "gridstack/LICENSE",
    "echarts/dist/echarts.min.js": "echarts/echarts.min.js",
    "echarts/LICENSE": "echarts/LICENSE",
}


def ensure_node_modules() -> bool:
    """True when node_modules has every file we copy (running ``npm ci`` if needed)."""
    if all((NODE_MODULES / src).exists() for src in FILES):
        return True
    npm = shutil.which("npm")
    if npm is None:
        # The pages still work without these (no drag and drop, no live form updates).
        print(
            "setup_vendor: npm is not installed; skipping htmx, SortableJS, Gridstack, ECharts",
            file=sys.stderr,
        )
        return False
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=ROOT, check=True)
    return True


def copy_files() -> list[Path]:
    copied = []
    for src, dest in FILES.items():
        target = VENDOR / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(NODE_MODULES / src, target)
        copied.append(target)
    return copied


def main() -> int:
    if not ensure_node_modules():
        return 0
    copied = copy_files()
    print(f"setup_vendor: copied {len(copied)} files into {VENDOR.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
