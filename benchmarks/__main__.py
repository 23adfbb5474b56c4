"""Runs every benchmark: `python -m benchmarks [name ...]` (names: preprocess, serving, webapp, trainer)."""
import sys

from data import project

project.quiet_tensorflow()  # the benchmarks' imports load TensorFlow

from benchmarks import preprocess, serving, trainer, webapp  # noqa: E402

BENCHMARKS = {"preprocess": preprocess.main, "serving": serving.main, "webapp": webapp.main,
              "trainer": trainer.main}


def main(argv=None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    return max(BENCHMARKS[n]() for n in names)


if __name__ == "__main__":
    sys.exit(main())
