"""Runs every benchmark: `python -m benchmarks [name ...]` (names: preprocess, serving, webapp, trainer).

Every work dir and temporary file of a run (the benchmarks' own, their processes': checkpoints, exports, logs)
goes under one /tmp/ghsumm-bench-* dir, removed when every benchmark passes (a trainer run leaves 1.4 GB there)
and kept, with its logs, when one fails or GHSUMM_BENCH_KEEP=1."""
import os
import shutil
import sys
import tempfile

from data import project

project.quiet_tensorflow()  # the benchmarks' imports load TensorFlow

from benchmarks import preprocess, serving, trainer, webapp  # noqa: E402

BENCHMARKS = {"preprocess": preprocess.main, "serving": serving.main, "webapp": webapp.main,
              "trainer": trainer.main}
KEEP = "GHSUMM_BENCH_KEEP"


def main(argv=None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    scratch = tempfile.mkdtemp(prefix="ghsumm-bench-")
    before = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir = os.environ["TMPDIR"] = scratch  # this process's mkdtemp, and its children's
    code = 1
    try:
        code = max(BENCHMARKS[n]() for n in names)
        return code
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
