"""The ``predict tag`` and ``predict export`` subcommands (wired into predict.cli).

    predict tag ~/Photos --db tags.sqlite --top 5
    predict tag list.txt 'archive/**/*.jpg' --db tags.sqlite --dask-local 4
    predict tag /data/photos --db tags.sqlite --scheduler tcp://10.0.0.5:8786
    predict tag ~/Photos --db tags.sqlite --predictor pets.predictor
    predict export tags.sqlite --format parquet -o tags.parquet
"""

import os
import sys

__all__ = ["add_commands"]


def _positive(text):
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _tag(args):
    from predict.batch.progress import summary_text
    from predict.batch.tagging import tag
    from predict.cli import _default_model

    summary = tag(args.sources, args.model or _default_model(), args.db, top=args.top,
                  features=args.features, workers=args.workers, scheduler=args.scheduler,
                  dask_local=args.dask_local, shard_size=args.shard_size, batch=args.batch,
                  max_pixels=args.max_pixels, retry_failed=args.retry_failed,
                  progress=not args.no_progress,
                  on_cluster=_say_dashboard if args.dask_local else None,
                  predictor=args.predictor)
    print(summary_text(summary), file=sys.stderr)
    if summary["interrupted"]:
        return 130
    return 1 if summary["failed"] else 0


def _say_dashboard(client):
    link = getattr(client, "dashboard_link", None)
    if link:
        print(f"dask dashboard: {link}", file=sys.stderr)


def _export(args):
    from predict.batch.export import export_db

    out = args.output or os.path.splitext(args.db)[0] + "." + args.format
    n = export_db(args.db, out, args.format)
    if out != "-":
        print(f"wrote {n} rows to {out}", file=sys.stderr)
    return 0


def add_commands(commands, subcommand, model_help):
    """Adds ``tag`` and ``export`` to the ``predict`` parser's subcommands."""
    p = subcommand(
        commands, "tag", "tag a whole photo collection into a database",
        "Tag every photo of folders (walked recursively), path-list files (one path a line) "
        "or patterns ('photos/**/*.jpg') into a SQLite database: one row per photo with its "
        "top classes, or its error. Runs on a process pool on this machine (one worker per "
        "core), or on a Dask cluster. Photos already in the database for this model are "
        "skipped, so an interrupted run resumes where it stopped. Exit code 1 if any photo "
        "failed (its row says why), 130 after Ctrl-C.",
        "predict tag ~/Photos --db tags.sqlite --top 5")
    p.add_argument("sources", nargs="+", metavar="SOURCE",
                   help="a folder, a file listing paths (- for stdin), a photo, or a pattern")
    p.add_argument("--db", required=True, help="the SQLite results database (made if missing)")
    p.add_argument("--model", "-m", help=model_help)
    p.add_argument("--predictor", "-p", metavar="FILE",
                   help="tag with the classes learned by `predict learn` instead of the "
                        "model's own; the model must be the one it was trained on")
    p.add_argument("--top", "-k", type=_positive, default=5,
                   help="classes kept per photo (default 5)")
    p.add_argument("--features", action="store_true",
                   help="also store each photo's feature vector (float16)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", "-j", type=_positive,
                       help="local worker processes (default: one per core)")
    where.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                       help="run on this Dask cluster (needs the cluster extra)")
    where.add_argument("--dask-local", type=_positive, metavar="N",
                       help="start a local Dask cluster of N worker processes")
    p.add_argument("--shard-size", type=_positive, default=128,
                   help="photos per unit of work (default 128)")
    p.add_argument("--batch", type=_positive, default=16,
                   help="photos per inference batch inside a worker (default 16)")
    p.add_argument("--max-pixels", type=_positive, default=89_478_485,
                   help="refuse photos with more pixels than this (default 89,478,485)")
    p.add_argument("--retry-failed", action="store_true",
                   help="tag again the photos whose earlier attempt failed")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=_tag)

    p = subcommand(
        commands, "export", "export a tag database as JSON lines, CSV or Parquet",
        "Write every row of a database made by `predict tag`, in path order. Parquet needs "
        "pyarrow (pip install 'predict[parquet]').",
        "predict export tags.sqlite --format csv -o tags.csv")
    p.add_argument("db", metavar="DB", help="the SQLite database")
    p.add_argument("--format", "-f", choices=("jsonl", "csv", "parquet"), default="jsonl",
                   help="default jsonl")
    p.add_argument("-o", "--output", help="the file to write (- for stdout; default: DB's name "
                                          "with the format's extension)")
    p.set_defaults(run=_export)
