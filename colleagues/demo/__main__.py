"""``python -m colleagues.demo OUT_DIR [--seed N] [--scale X]``: write the demo company."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from colleagues.demo.generate import generate_company


def main(argv: list[str] | None = None) -> int:
    """Generate the company into OUT_DIR and print a one-line summary."""
    parser = argparse.ArgumentParser(
        prog="python -m colleagues.demo",
        description="Write the Northwind Robotics demo company (Slack export, mbox, "
        "documents, directory, ground truth).",
    )
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="volume multiplier for Slack messages and emails (default 1.0)",
    )
    args = parser.parse_args(argv)
    if args.scale <= 0:
        parser.error("--scale must be positive")
    company = generate_company(args.out_dir, seed=args.seed, scale=args.scale)
    print(company.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
