"""`python -m benchmarks` keeps every work dir of a run under one scratch dir: removed when the benchmarks pass,
kept (with its logs) when one fails or GHSUMM_BENCH_KEEP=1."""
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

import benchmarks.__main__ as bench


def writes_a_work_dir(code):
    def benchmark():
        work = tempfile.mkdtemp(prefix="ghsumm-bench-x-")
        subprocess.run([sys.executable, "-c", "import tempfile; tempfile.mkstemp(prefix='child-')"], check=True)
        benchmark.dirs = [work, os.environ["TMPDIR"]]
        with open(os.path.join(work, "x.log"), "w") as f:
            f.write("log")
        return code
    return benchmark


@pytest.mark.parametrize("code, keep, kept", [(0, None, False), (1, None, True), (0, "1", True)])
def test_a_benchmark_runs_work_dirs_go_when_it_passes(monkeypatch, capsys, code, keep, kept):
    fake = writes_a_work_dir(code)
    monkeypatch.setitem(bench.BENCHMARKS, "x", fake)
    if keep:
        monkeypatch.setenv(bench.KEEP, keep)
    else:
        monkeypatch.delenv(bench.KEEP, raising=False)
    tmpdir = os.environ.get("TMPDIR")
    assert bench.main(["x"]) == code
    work, scratch = fake.dirs
    assert os.path.dirname(work) == scratch and os.path.basename(scratch).startswith("ghsumm-bench-")
    assert os.path.exists(scratch) is kept
    if kept:
        assert sorted(os.listdir(scratch))[0].startswith("child-")  # the child process's temp file went there too
        assert "kept in " + scratch in capsys.readouterr().out
        shutil.rmtree(scratch)
    assert os.environ.get("TMPDIR") == tmpdir
