"""Runs the benchmarks: `python -m benchmarks [name ...] [--option ...]`.

With no name, the speed benchmarks (DEFAULT: preprocess, decoding, serving, webapp, trainer; `make bench`). adaptation, whether
retraining on new issues pays (~30 min, `make adapt`; benchmarks/adaptation.py), runs only when named; options after
the names go to it (`python -m benchmarks adaptation --max_new 40 --max_later 40 --more_steps 5`).

Every work dir and temporary file of a run (the benchmarks' own, their processes': checkpoints, exports, logs)
goes under one /tmp/ghsumm-bench-* dir, removed when every benchmark passes (a trainer run leaves 1.4 GB there)
and kept, with its logs, when one fails or GHSUMM_BENCH_KEEP=1 (adaptation's own work dir is its --work)."""
import itertools
import logging
import os
import shutil
import sys
import tempfile

from data import project

project.quiet_tensorflow()  # the benchmarks' imports load TensorFlow

from benchmarks import adaptation, decoding, preprocess, serving, trainer, webapp  # noqa: E402

BENCHMARKS = {"preprocess": preprocess.main, "decoding": decoding.main, "serving": serving.main, "webapp": webapp.main,
              "trainer": trainer.main, "adaptation": adaptation.main}
DEFAULT = ["preprocess", "decoding", "serving", "webapp", "trainer"]  # what runs when no name is given
TAKES_OPTIONS = {"adaptation"}  # the benchmarks whose main takes the options given after the names
KEEP = "GHSUMM_BENCH_KEEP"
TF_LOG = os.path.join(project.REPO, "work", "bench-tensorflow.log")


def tensorflow_log_to_file(path: str = TF_LOG) -> None:
    """TensorFlow's Python warnings (40 "Unable to create a python object for variable" when a T2T export is loaded)
    go to path, not the terminal."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    logger = logging.getLogger("tensorflow")
    logger.handlers[:] = [logging.FileHandler(path)]
    logger.propagate = False


def main(argv=None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    names = list(itertools.takewhile(lambda a: not a.startswith("-"), args))
    options = args[len(names):]
    names = names or list(DEFAULT)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    if options and not set(names) <= TAKES_OPTIONS:
        print(f"options {options} are for {', '.join(sorted(TAKES_OPTIONS))} alone", file=sys.stderr)
        return 2
    tensorflow_log_to_file()
    print("TensorFlow's own log: %s" % TF_LOG, flush=True)
    scratch = tempfile.mkdtemp(prefix="ghsumm-bench-")
    before = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir = os.environ["TMPDIR"] = scratch  # this process's mkdtemp, and its children's
    code = 1
    try:
        code = max(BENCHMARKS[n](options) if n in TAKES_OPTIONS else BENCHMARKS[n]() for n in names)
        return code
    except SystemExit as e:  # an option parser's --help (0) or usage error (2)
        code = e.code or 0
        raise
    finally:
        tempfile.tempdir = before[0]
        if before[1] is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = before[1]
        if code == 0 and os.environ.get(KEEP, "") in ("", "0"):
            shutil.rmtree(scratch, ignore_errors=True)
            print(f"work dirs removed ({scratch}; {KEEP}=1 keeps them)", flush=True)
        else:
            print(f"work dirs and logs kept in {scratch}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
