"""`fsa-distill predict`: a trained model on texts from the command line, a file or stdin.

Input: texts as arguments; `--input FILE` as .txt (one text a line), .jsonl (`--text-field`) or
.csv (`--column`); `--input -` or piped stdin (txt unless `--input-format` says otherwise).
Output: JSON lines (or CSV, by `--output` extension) to `--output FILE` or stdout, one row per input
record in input order: {line, id, text, prediction, aspects, status}. `prediction` is the raw
generated string, as in evaluation's predictions files, so the output can be scored.

Files are read twice: a first pass checks every line (UTF-8, JSON, the field) and counts them, so
a bad byte on line 900,000 is reported before hours of inference and the progress bar has a total.
The second pass streams `--chunk-size` records at a time; nothing holds the whole file.
Empty texts are not sent to the model but keep their row (status "empty"), so rows stay aligned.
The readers and writers of those files are in predict_io.py.
"""

from __future__ import annotations

import os
import sys
from itertools import chain, islice, tee
from pathlib import Path
from typing import Iterable, Iterator

from fsa_distill.cli_args import add_progress_flag
from fsa_distill.errors import FsaError
from fsa_distill.inference.fast import add_fast_flags
from fsa_distill.inference.predict_io import (
    INPUT_FORMATS,
    OUTPUT_FORMATS,
    Record,
    Writer,
    close_output,
    format_of,
    read_records,
)


def register(sub) -> None:
    p = sub.add_parser("predict", help="run a trained model on new text (arguments, a file or stdin)",
                       description="Predict aspect sentiment with a trained model. Writes JSON lines (or CSV) "
                                   "with the aspects, their polarity and, for terms, the character span.")
    p.add_argument("texts", nargs="*", metavar="TEXT", help="texts to analyse (or use --input / stdin)")
    p.add_argument("--model", "-m", required=True, help="a model folder from `finetune`, a hub id or a preset")
    p.add_argument("--task", choices=["atsa", "acsa"], help="default: the model's fsa_distill.json, else atsa")
    p.add_argument("--input", "-i", help="a .txt, .jsonl or .csv file; '-' for stdin")
    p.add_argument("--input-format", choices=["txt", "jsonl", "csv"], help="override the extension (stdin: txt)")
    p.add_argument("--text-field", default="text", help="JSONL key holding the text (default: text)")
    p.add_argument("--column", help="CSV column holding the text (default: --text-field)")
    p.add_argument("--id-field", default="id", help="JSONL key / CSV column copied to the output id "
                                                    "when present (default: id; else the line number)")
    p.add_argument("--output", "-o", help="a .jsonl or .csv file (default: JSON lines on stdout); predict writes "
                   "one file, so its --output is that file (every other command's --output is a folder)")
    p.add_argument("--output-format", choices=["jsonl", "csv"], help="override the extension (stdout: jsonl)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--chunk-size", type=int, default=256,
                   help="records read, length-sorted and predicted at a time (default: 256)")
    p.add_argument("--max-input-length", type=int, help="truncate longer texts (tokens; default: the model's limit, 512)")
    add_fast_flags(p)
    p.add_argument("--device", help="cpu, cuda, ... (default: cuda if available)")
    p.add_argument("--keep-absent", action="store_true",
                   help="keep generated terms that are not in the text (flagged in_text: false)")
    add_progress_flag(p)
    p.set_defaults(func=run_predict)


# -------------------------------------------------------------------------------------- main
def _source(args) -> tuple[str | None, str | None]:
    """(input path or '-', input format), or (None, None) for texts given as arguments."""
    if args.texts == ["-"] and not args.input:  # `predict -m M -`: stdin, as most tools read it
        args.texts, args.input = [], "-"
    if args.texts and args.input:
        raise FsaError("give texts as arguments or --input, not both")
    if args.texts:
        return None, None
    if args.input:
        return args.input, format_of(args.input, args.input_format, INPUT_FORMATS, "txt", "input")
    if sys.stdin is None or sys.stdin.isatty():
        raise FsaError("nothing to predict: give texts as arguments, --input FILE, or pipe text on stdin")
    return "-", args.input_format or "txt"


class _StopAtError:
    """Records until the first bad one; the error is kept, not raised, so that every record
    before it is predicted and written (a chunk is only predicted once it is full) and the
    error is raised after them, as the docs promise."""

    def __init__(self, records: Iterable[Record]):
        self.records, self.error = records, None

    def __iter__(self) -> Iterator[Record]:
        try:
            yield from self.records
        except FsaError as e:
            self.error = e


def _check_output(out_path: str | None, path: str | None) -> None:
    """Before, not after, loading the model."""
    if out_path is None:
        if sys.stdout is None:  # started with stdout closed (`>&-`)
            raise FsaError("<stdout>: stdout is closed; write to a file with --output FILE")
        return
    if path not in (None, "-") and Path(path).resolve() == Path(out_path).resolve():
        raise FsaError(f"{out_path}: the output would overwrite the input")
    if Path(out_path).is_dir():
        raise FsaError(f"{out_path}: is a folder; --output takes a file")
    if not Path(out_path).resolve().parent.is_dir():
        raise FsaError(f"{out_path}: cannot write (no folder {Path(out_path).parent})")


def run_predict(args) -> int:
    """Check every argument and the input before the model loads, then stream the results."""
    if args.batch_size < 1 or args.chunk_size < 1:
        raise FsaError("--batch-size and --chunk-size must be at least 1")
    if args.max_input_length is not None and args.max_input_length < 1:
        raise FsaError("--max-input-length must be at least 1")
    path, fmt = _source(args)
    out_path = args.output if args.output and args.output != "-" else None
    out_fmt = format_of(out_path or "-", args.output_format, OUTPUT_FORMATS, "jsonl", "output")
    _check_output(out_path, path)
    from fsa_distill.models import check_device, check_model_spec

    if args.device:
        check_device(args.device)
    check_model_spec(args.model)
    records, total, stopper = _input_records(args, path, fmt)

    from fsa_distill.inference import SentimentAnalyzer

    sa = SentimentAnalyzer.from_pretrained(args.model, task=args.task, device=args.device, fast=args.fast,
                                           compute_type=args.compute_type, max_input_length=args.max_input_length,
                                           keep_absent=args.keep_absent)
    return _write_predictions(args, sa, records, total, stopper, out_path, out_fmt)


def _input_records(args, path, fmt):
    """(records, their number if known, the stdin stopper or None)."""
    if path is None:
        return (Record(i, i, t) for i, t in enumerate(args.texts, start=1)), len(args.texts), None
    if path == "-":
        # Read the first chunk before loading the model: a bad first line fails at once.
        stream = read_records(path, fmt, args)
        head = list(islice(stream, args.chunk_size))
        stopper = _StopAtError(chain(head, stream))
        return stopper, None, stopper
    total = sum(1 for _ in read_records(path, fmt, args))  # validates the whole file first
    return read_records(path, fmt, args), total, None


def _write_predictions(args, sa, records, total, stopper, out_path, out_fmt) -> int:
    from tqdm.auto import tqdm

    try:
        out = open(out_path, "w", encoding="utf-8", newline="") if out_path else sys.stdout
    except OSError as e:
        raise FsaError(f"{out_path}: cannot write ({e.strerror})") from None
    n = empty = truncated = 0
    shown = out_path or "<stdout>"
    try:
        writer = Writer(out, out_fmt)
        for_model, for_output = tee(records)  # tee buffers at most one chunk between the two
        results = sa.predict_iter((r.text for r in for_model), batch_size=args.batch_size, chunk_size=args.chunk_size)
        with tqdm(total=total, unit="text", desc="predict", file=sys.stderr, disable=args.quiet) as bar:
            # results first: zip then runs predict_iter to its end, where it logs the truncation warning
            for result, rec in zip(results, for_output):
                writer.write(rec, result)
                n += 1
                empty += not rec.text.strip()
                truncated += result.truncated
                bar.update(1)
        out.flush()
        if stopper is not None and stopper.error is not None:
            raise stopper.error
    except FsaError as e:  # a bad line mid-stream (stdin): say what was kept
        raise FsaError(f"{e} ({n} row(s) written before it)") from None
    except BrokenPipeError:  # `... | head`: the reader left, which is not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as e:  # -o /dev/full, a full disk
        raise FsaError(f"{shown}: cannot write ({e.strerror}) after {n} row(s)") from None
    finally:
        if out is not sys.stdout:
            close_output(out, shown, n)
    notes = "; ".join(x for x in [f"{empty} empty (kept as rows with status 'empty')" if empty else "",
                                  f"{truncated} truncated" if truncated else ""] if x)
    print(f"predicted {n} text(s){' (' + notes + ')' if notes else ''}"
          f"{' -> ' + out_path if out_path else ''}", file=sys.stderr)
    return 0
