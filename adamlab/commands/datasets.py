"""adamlab datasets: where the data sets are read from, and which are there.

    adamlab datasets                      # each data set: present, MISSING or CORRUPT
    adamlab datasets --data-dir ~/data    # another folder (default ADAMLAB_DATA_DIR)
    adamlab datasets --download           # fetch the missing files (needs a network)

Every file is checked against its published md5. The folder holds ``mnist/`` and
``fashion-mnist/``, each with the four gzip IDX files under their original names;
``digits`` ships with scikit-learn and ``linear`` is generated. Exit 0 when every data set
can be read, 1 when one is missing or corrupt.
"""

from __future__ import annotations

import argparse
from pathlib import Path

EXIT_OK = 0
EXIT_UNAVAILABLE = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "datasets",
        help="list the data sets in the data folder (ADAMLAB_DATA_DIR), verify their "
        "checksums, download the missing ones",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="the folder holding mnist/ and fashion-mnist/ (default: ADAMLAB_DATA_DIR)",
    )
    parser.add_argument(
        "--download",
        action="store_true",
        help="fetch missing files from the data sets' mirrors (md5-checked)",
    )
    parser.set_defaults(func=_datasets)


def _datasets(args: argparse.Namespace) -> int:
    from core.data_files import IDX_DATASETS, download, inspect_datasets
    from core.settings import Settings

    data_dir: Path = args.data_dir if args.data_dir is not None else Settings().data_dir
    data_dir = data_dir.expanduser().resolve()
    print(f"data folder: {data_dir}")
    if args.download:
        for found in inspect_datasets(data_dir):
            if found.state == "missing" and found.folder is not None:
                print(f"{found.name}: downloading {', '.join(found.missing)}", flush=True)
                failures = download(IDX_DATASETS[found.name], found.folder, found.missing)
                for failure in failures:
                    print(f"{found.name}: download failed: {failure}")
    states = inspect_datasets(data_dir)
    for found in states:
        print(f"  {found.describe()}")
    unavailable = [found for found in states if found.state in ("missing", "corrupt")]
    if unavailable:
        print(
            "point ADAMLAB_DATA_DIR (or --data-dir) at the folder that holds them, "
            "run `adamlab datasets --download` where there is a network, or delete a "
            "corrupt file to fetch it again"
        )
        return EXIT_UNAVAILABLE
    return EXIT_OK
