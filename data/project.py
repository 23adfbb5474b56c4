"""The project on this machine: where it is, the two environments' interpreters, the environment a child process
needs to import the project, and running a project command with its output logged (a failure raises with the
log's tail). Every module that starts a project command calls this one. StoryLines picks, from that streamed
output, the lines a person follows (pipeline/local.py shows only those unless --verbose).

- locally the app steps run `sys.executable -m ...` (or $GHSUMM_APP_PYTHON); t2t steps run $GHSUMM_T2T_PYTHON,
  default <repo>/.venv/t2t/bin/python;
- on a cluster the t2t image sets GHSUMM_T2T_PYTHON to its TF 2.15 interpreter (dockerfiles/t2t.Dockerfile).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE_CSV = os.path.join(REPO, "data", "sample", "github_issues.csv")  # the bundled sample
# The bundled general dev set: issues the shipped model never trained on, every one in the eval split (the same id
# hash), so the pipeline's default data scores models on 986 issues, not 209 (trainer/warm_start.write_dev_set).
DEV_CSV = os.path.join(REPO, "data", "sample", "github_issues_dev.csv")
# How the project's CLIs log: their loggers are named ghsumm.<module>, and those lines (progress, counts) are the
# ones a person follows; everything else a command prints (TensorFlow's and Beam's logs, library warnings) is
# for its log (StoryLines).
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_OUR_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (?P<level>[A-Z]+) ghsumm\.[\w.]+: (?P<message>.*)")
_TAGGED = re.compile(r"^\[(?P<tag>\w+)\] (?P<text>.*)")


XLA_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "ghsumm", "xla")


def quiet_tensorflow() -> None:
    """Called before TensorFlow is first imported in a process: only its C++ errors reach the terminal, not its
    start-up lines (absl's notice, the CPU features), unless TF_CPP_MIN_LOG_LEVEL says otherwise. On a CPU with
    AVX-512 or AMX, TF turns oneDNN on by itself and says so on stderr whatever the log level; these processes
    (evaluation, the model server, the benchmarks) decode with it off, as on every other CPU, unless
    TF_ENABLE_ONEDNN_OPTS says otherwise. A training process they start turns it on again (fast_tensorflow_cpu).
    XLA keeps the programs it compiles (trainer/fast_decode.py's, ~15 s each) in XLA_CACHE, so the next process
    that loads the same export starts in seconds."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tf_xla_persistent_cache_directory" not in os.environ.get("TF_XLA_FLAGS", ""):
        os.environ["TF_XLA_FLAGS"] = (os.environ.get("TF_XLA_FLAGS", "") + " --tf_xla_persistent_cache_directory="
                                      + XLA_CACHE).strip()
    if "TF_ENABLE_ONEDNN_OPTS" not in os.environ:
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
        os.environ[_ONEDNN_OFF_BY_US] = "1"


def _not_beams_apitools_warning(record) -> bool:
    return not str(record.msg).startswith("apitools not found")


def quiet_beam() -> None:
    """Called before apache_beam is first imported: Beam's BigQuery client warns on the root logger at import that
    apitools is missing ("apitools not found, and bigquery client libraries are not available ..."). This project
    reads no BigQuery, so that line is dropped, in every preprocessing log and on `make bench`'s terminal."""
    import logging
    root = logging.getLogger()
    if _not_beams_apitools_warning not in root.filters:
        root.addFilter(_not_beams_apitools_warning)


_ONEDNN_OFF_BY_US = "GHSUMM_ONEDNN_OFF_BY_QUIET"  # quiet_tensorflow set TF_ENABLE_ONEDNN_OPTS=0, not the user


def fast_tensorflow_cpu() -> None:
    """Called before TensorFlow is first imported in a training process: oneDNN's CPU kernels on. TF 2.15 turns
    them on by itself only on CPUs with AVX-512 or AMX; on an AVX2-only CPU (this project's 2-core AMD EPYC) they
    train the shipped set 1.13-1.25x faster in tokens/s (docs/model-history.md, "Training speed").
    TF_ENABLE_ONEDNN_OPTS=0 in the environment keeps them off (but not the 0 quiet_tensorflow set in the process
    that started this one)."""
    if os.environ.pop(_ONEDNN_OFF_BY_US, None):
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1"
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


# CPU flags (/proc/cpuinfo) of hardware bfloat16 matrix products: Intel AMX tiles, AVX-512's bfloat16 dot products.
BFLOAT16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
# `python -m trainer train --bfloat16`: matmuls in bfloat16 always, never, or where the CPU has one of those flags
BFLOAT16_CHOICES = ("auto", "on", "off")


def bfloat16_cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> list[str]:
    """Which of BFLOAT16_CPU_FLAGS this CPU has (none where /proc/cpuinfo cannot be read)."""
    try:
        with open(cpuinfo) as f:
            flags = set(next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), []))
    except OSError:
        return []
    return [flag for flag in BFLOAT16_CPU_FLAGS if flag in flags]


def t2t_python() -> str:
    return os.environ.get("GHSUMM_T2T_PYTHON") or os.path.join(REPO, ".venv", "t2t", "bin", "python")


def app_python() -> str:
    return os.environ.get("GHSUMM_APP_PYTHON") or sys.executable


def pythonpath() -> str:
    """PYTHONPATH with the repository first."""
    return os.pathsep.join(p for p in [REPO, os.environ.get("PYTHONPATH", "")] if p)


def child_env(base: dict | None = None, **extra: str) -> dict:
    """The environment of a project child process: the caller's (or base), the repository importable."""
    env = dict(os.environ if base is None else base, PYTHONPATH=pythonpath())
    env.update(extra)
    return env


class CommandFailed(RuntimeError):
    """A project command exited non-zero; the message ends with its output's tail (lines: all of it)."""

    def __init__(self, message: str, returncode: int, lines: list[str]):
        super().__init__(message)
        self.returncode, self.lines = returncode, lines


def run_streamed(cmd: list, tag: str, log_path: str | None = None, env: dict | None = None) -> str:
    """Runs a project command (cwd: the repository), its output streamed to stdout with each line prefixed
    "[tag] " and appended to log_path (when given, after the command line). Returns the output; a failure raises
    CommandFailed with the exit status and the output's tail."""
    cmd = [str(c) for c in cmd]
    print("[%s] $ %s" % (tag, " ".join(cmd)), flush=True)
    start = time.time()
    lines = []
    proc = subprocess.Popen(cmd, cwd=REPO, env=env or child_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace")
    log = open(log_path, "a", encoding="utf-8") if log_path else None
    try:
        if log:
            log.write("$ %s\n" % " ".join(cmd))
        for line in proc.stdout:
            lines.append(line)
            sys.stdout.write("[%s] %s" % (tag, line))
            sys.stdout.flush()
            if log:
                log.write(line)
                log.flush()
        rc = proc.wait()
    finally:
        if log:
            log.close()
    if rc != 0:
        raise CommandFailed("%s failed (exit %d) after %.0f s: %s\n%s"
                            % (tag, rc, time.time() - start, " ".join(cmd[1:4]), "".join(lines[-30:])), rc, lines)
    print("[%s] done in %.1f s" % (tag, time.time() - start), flush=True)
    return "".join(lines)


class StoryLines:
    """Picks, from what run_streamed printed (a pipeline step's output, one line at a time), the lines that tell
    the story: the step's own "[tag] ..." lines, and of each command's output (between "[tag] $ <command>" and
    "[tag] done in ...") only our log lines, shortened to "[tag] message" ("[tag] WARNING message" above INFO).
    pick(line) returns the line to show, or None."""

    def __init__(self):
        self.command = None  # the tag of the command whose output is streaming

    def pick(self, line: str) -> str | None:
        tagged = _TAGGED.match(line.rstrip("\n"))
        if not tagged:
            return None
        tag, text = tagged.group("tag", "text")
        if text.startswith("$ "):
            self.command = tag
            return None
        if tag != self.command:
            return "[%s] %s" % (tag, text)
        if text.startswith("done in "):
            self.command = None
            return None
        ours = _OUR_LOG_LINE.match(text)
        if not ours:
            return None
        level = "" if ours.group("level") == "INFO" else ours.group("level") + " "
        return "[%s] %s%s" % (tag, level, ours.group("message"))


def run_logged(cmd: list, log_path: str, what: str, tag: str = "quality", timeout: float | None = None,
               env: dict | None = None) -> None:
    """Runs a project command (cwd: the repository) quietly, its output into log_path; a failure raises
    CommandFailed ending with the log's tail."""
    env = env or child_env(TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    print("[%s] %s (log %s)" % (tag, what, log_path), flush=True)
    with open(log_path, "w") as log:
        rc = subprocess.run([str(c) for c in cmd], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                            timeout=timeout).returncode
    if rc:
        with open(log_path) as f:
            lines = f.read().splitlines(keepends=True)
        raise CommandFailed("%s failed (exit %d); %s ends:\n%s" % (what, rc, log_path, "".join(lines)[-3000:]),
                            rc, lines)
