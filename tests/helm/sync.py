"""Regenerate the chart's copies of dashboards/ and alerts/ and deploy/daylight.yaml.

python -m tests.helm.sync            # write
python -m tests.helm.sync --check    # only report; exit 1 when something is stale
"""

from __future__ import annotations

import argparse
import sys

from tests.helm import chart


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.helm.sync", description=__doc__)
    parser.add_argument("--check", action="store_true", help="report drift, change nothing")
    args = parser.parse_args(argv)
    try:
        chart.helm_path()
    except chart.HelmMissing as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.check:
        drift = chart.file_drift() + chart.manifest_drift()
        for d in drift:
            print(d)
        if drift:
            print("run: python -m tests.helm.sync", file=sys.stderr)
        return 1 if drift else 0
    for path in chart.sync_files():
        print(f"updated {path.relative_to(chart.ROOT)}")
    if chart.write_manifest():
        print(f"updated {chart.MANIFEST.relative_to(chart.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
