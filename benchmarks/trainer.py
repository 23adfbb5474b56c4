"""Training, export and single-title decode: the project's commands against tensor2tensor's own tools.

    python -m benchmarks trainer            # ~5-6 min on 2 cores
    GHSUMM_BENCH_QUICK=1 python -m benchmarks trainer     # 101 training steps, 5 titles (~3 min): checks it runs

On the bundled sample (preprocessed here with `python -m data.preprocess`), hparams set transformer_ghsumm_tiny:
1. training: `python -m trainer train` against t2t-trainer (`python -m trainer.t2t_cli trainer --schedule=train`,
   checkpoints every 100 steps like ours), same data, same steps. Both are T2T estimators and write a summary
   (step, wall time) after their first step and every 100 steps: steady-state steps/s is measured between the
   first and the last of these, so graph build and the first step count as start-up (launch to first step done),
   printed apart. Examples and tokens per step are the means of the sampled batches' input_stats summaries.
2. export of our checkpoint: `python -m trainer export` against t2t-exporter (`python -m trainer.t2t_cli
   export`), beam 4 and alpha 0.6 for both, both writing a binary saved_model.pb (t2t-exporter's default is text).
3. single-title decode: our export loaded in this process (tf.saved_model.load, serving_default, as
   trainer/evaluate.py and the model server call it) on eval-split bodies, one issue per call, p50/p95. The
   reference is the per-issue time of a batch-of-32 call of the same function: what the model costs per title when
   its fixed per-call work is shared, so the ratio says how much a batching server could gain. (The server's own
   overhead over this bare call is what `python -m benchmarks serving` measures.) Decode time grows with the
   title's length, printed beside it: a model trained for 300 steps may write near-empty titles, whose times
   are a floor, not what a trained model costs.
4. the same decode timing for the shipped warm-start model (data/warm_start/) when it is there.
5. the shipped warm start's own hyper-parameter set (its ghsumm_model.json; the bundled sample encoded with its
   vocabulary), trained from scratch for the same steps: non-padding tokens/s of `python -m trainer train` as
   it runs by default (`--bfloat16 auto`: matmuls in bfloat16 on a CPU with AMX or AVX-512 BF16, float32
   elsewhere), against itself all in float32 (`--bfloat16 off`, what it ran before), t2t-trainer on the same
   set (steps/s ratio), and t2t-trainer on the set as issue 12 measured it (SET_BEFORE: T2T's loss over the whole
   vocabulary, a dropout mask per element): the speed-up of training the shipped set, before and after.
   GHSUMM_BENCH_SHIPPED=0 skips it.
Training and export run in the t2t environment (.venv/t2t or $GHSUMM_T2T_PYTHON), decoding in this one.
"""
from __future__ import annotations

import glob
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks import tiny_model
from data import contract, project
from trainer import evaluate

REPO = tiny_model.REPO
HPARAMS_SET = "transformer_ghsumm_tiny"
WARM_START = os.path.join(REPO, "data", "warm_start")  # the shipped warm-start model, when it ships
QUICK = os.environ.get("GHSUMM_BENCH_QUICK", "") not in ("", "0")
TRAIN_STEPS = 101 if QUICK else 301  # summaries after step 1 and every 100 steps: 1 or 3 measured intervals
SINGLE_TITLES = 5 if QUICK else 20
BATCH = 8 if QUICK else 32
BATCH_REPEATS = 1 if QUICK else 3
MAX_INPUT_LENGTH = 256  # trainer.evaluate's default
SHIPPED = os.environ.get("GHSUMM_BENCH_SHIPPED", "1") not in ("", "0")
BEAM_SIZE, ALPHA, EXTRA_LENGTH = 4, 0.6, 40  # python -m trainer export's defaults
# the shipped set (transformer_ghsumm_write) as it trained before 2026-12-06: the loss of mix_copy's whole log p,
# and dropout masks per element (docs/model-history.md, "Training speed")
SET_BEFORE = ("ghsumm_sparse_loss=0,attention_dropout_broadcast_dims=,relu_dropout_broadcast_dims=,"
              "layer_prepostprocess_dropout_broadcast_dims=")


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in [REPO, os.environ.get("PYTHONPATH")] if p),
                TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")


def run_t2t_env(args: list[str], log_path: str) -> tuple[float, float]:
    """Runs `<t2t python> -m <args>`, its output into log_path: (launch time as time.time(), wall seconds).

    Not benchmarks.measure.run_measured: under its memory sampling (/proc/<pid>/smaps 20 times a second)
    `python -m trainer train` stalled ~38 s after its last checkpoint in both runs tried, ~4 s without it."""
    launched, start = time.time(), time.perf_counter()
    with open(log_path, "w") as log:
        rc = subprocess.run([tiny_model.t2t_python(), "-m"] + [str(a) for a in args], cwd=REPO, env=_env(),
                            stdout=log, stderr=subprocess.STDOUT).returncode
    seconds = time.perf_counter() - start
    if rc:
        with open(log_path) as f:
            tail = f.read()[-3000:]
        raise RuntimeError("%s failed (exit %d); %s ends:\n%s" % (" ".join(args[:2]), rc, log_path, tail))
    return launched, seconds


def training_progress(model_dir: str) -> dict:
    """From the model dir's summaries: steps/s between the first and last summary, the first summary's time, and
    the mean examples and non-padding tokens (inputs + targets) of the sampled batches."""
    import tensorflow as tf
    by_step: dict[int, dict] = {}
    for path in glob.glob(os.path.join(model_dir, "events.out.tfevents.*")):
        for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
            event = tf.compat.v1.Event.FromString(record)
            values = {v.tag.rsplit("input_stats/", 1)[-1]: v.simple_value for v in event.summary.value}
            if "loss" in values:
                by_step[event.step] = dict(values, wall_time=event.wall_time)
    steps = sorted(by_step)
    if len(steps) < 2:
        raise RuntimeError("fewer than 2 training summaries in %s: train at least 101 steps" % model_dir)
    points = [by_step[s] for s in steps]
    first, last = points[0], points[-1]
    return {"steps_per_s": (steps[-1] - steps[0]) / (last["wall_time"] - first["wall_time"]),
            "first_step_time": first["wall_time"], "measured_steps": steps[-1] - steps[0], "samples": len(points),
            "examples_per_step": float(np.mean([p.get("inputs_batch", np.nan) for p in points])),
            "tokens_per_step": float(np.mean([p.get("inputs_nonpadding_tokens", np.nan)
                                              + p.get("targets_nonpadding_tokens", np.nan) for p in points]))}


def benchmark_training(data_dir: str, work: str) -> tuple[str, dict]:
    """Trains ours and the reference for TRAIN_STEPS; (our model dir, name -> figures)."""
    ours_dir, ref_dir = os.path.join(work, "train-ours"), os.path.join(work, "train-t2t")
    runs = {
        "ours": ["trainer", "train", "--data_dir", data_dir, "--model_dir", ours_dir, "--train_steps", TRAIN_STEPS,
                 "--hparams_set", HPARAMS_SET],
        "t2t": ["trainer.t2t_cli", "trainer", "--data_dir=" + data_dir, "--output_dir=" + ref_dir,
                "--problem=" + tiny_model.PROBLEM, "--model=transformer", "--hparams_set=" + HPARAMS_SET,
                "--train_steps=%d" % TRAIN_STEPS, "--schedule=train", "--local_eval_frequency=100"],
    }
    results = {}
    for name, args in runs.items():
        print("  training %s for %d steps (log %s/%s-train.log)" % (name, TRAIN_STEPS, work, name), flush=True)
        launched, seconds = run_t2t_env(args, os.path.join(work, "%s-train.log" % name))
        progress = training_progress(ours_dir if name == "ours" else ref_dir)
        results[name] = dict(progress, startup_s=progress["first_step_time"] - launched, wall_s=seconds)
    return ours_dir, results


def benchmark_export(model_dir: str, data_dir: str, work: str) -> tuple[str, dict]:
    """Exports our checkpoint both ways; (our version dir, name -> wall seconds)."""
    base = os.path.join(work, "export-ours")
    runs = {
        "ours": ["trainer", "export", "--model_dir", model_dir, "--model_base_path", base,
                 "--beam_size", BEAM_SIZE, "--alpha", ALPHA],
        "t2t": ["trainer.t2t_cli", "export", "--output_dir=" + model_dir, "--data_dir=" + data_dir,
                "--problem=" + tiny_model.PROBLEM, "--model=transformer", "--hparams_set=" + HPARAMS_SET,
                "--decode_hparams=beam_size=%d,alpha=%s,extra_length=%d" % (BEAM_SIZE, ALPHA, EXTRA_LENGTH),
                "--export_dir=" + os.path.join(work, "export-t2t"), "--noas_text"],
    }
    results = {}
    for name, args in runs.items():
        print("  exporting with %s (log %s/%s-export.log)" % (name, work, name), flush=True)
        results[name] = run_t2t_env(args, os.path.join(work, "%s-export.log" % name))[1]
    return evaluate.find_saved_model(base), results


def benchmark_decode(version_dir: str, bodies: list[str]) -> dict:
    """One-issue calls (p50/p95 ms) and the per-issue time of a batch call, in this process."""
    import tensorflow as tf
    loaded = evaluate.load_saved_model(version_dir)
    signature = loaded.signatures["serving_default"]
    encoder = evaluate.load_vocabulary(evaluate.vocabulary_path(version_dir, ""))
    examples = [evaluate.serialize_inputs(evaluate.encode_body(encoder, b, MAX_INPUT_LENGTH)) for b in bodies]

    def call(batch):
        start = time.perf_counter()
        out = signature(input=tf.constant(batch))
        return time.perf_counter() - start, out["outputs"].numpy()
    call(examples[:1])  # warm-up: the first call of each batch shape is slower
    call(examples[:BATCH])
    single, lengths = [], []
    for example in examples[:SINGLE_TITLES]:
        seconds, ids = call([example])
        single.append(seconds)
        lengths.append(title_length(ids[0]))
    batch = [call(examples[:BATCH])[0] / BATCH for _ in range(BATCH_REPEATS)]
    return {"p50": 1000 * float(np.percentile(single, 50)), "p95": 1000 * float(np.percentile(single, 95)),
            "batch": 1000 * float(np.median(batch)), "title_ids": float(np.mean(lengths)),
            "beam": evaluate.decode_settings(version_dir, signature)["beam_size"]}


def title_length(ids) -> int:
    """Generated subword ids before the first EOS (id 1), padding (id 0) not counted."""
    ids = [int(i) for i in ids]
    return sum(1 for i in ids[:ids.index(1) if 1 in ids else len(ids)] if i != 0)


def benchmark_shipped_set(work: str) -> tuple[str, dict] | None:
    """Item 5 of the module doc: (hparams set, name -> training figures), or None without a warm start."""
    import json
    from data import preprocess
    card_path = os.path.join(WARM_START, contract.MODEL_CARD_FILE)
    if not os.path.isfile(card_path):
        return None
    with open(card_path) as f:
        card = json.load(f)
    hparams_set, model = card["hparams_set"], card.get("model", "transformer")
    data_dir = os.path.join(work, "data-warm")
    print("  preprocessing the bundled sample with the warm start's vocabulary", flush=True)
    preprocess.run(["--input", tiny_model.SAMPLE_CSV, "--output_dir", data_dir, "--vocab_file",
                    os.path.join(WARM_START, card["vocab_file"])])
    dirs = {name: os.path.join(work, "shipped-" + name) for name in ("auto", "f32", "t2t", "before")}
    t2t_trainer = ["trainer.t2t_cli", "trainer", "--data_dir=" + data_dir, "--problem=" + tiny_model.PROBLEM,
                   "--model=" + model, "--hparams_set=" + hparams_set, "--train_steps=%d" % TRAIN_STEPS,
                   "--schedule=train", "--local_eval_frequency=100"]
    ours = ["trainer", "train", "--data_dir", data_dir, "--train_steps", TRAIN_STEPS, "--hparams_set", hparams_set,
            "--random_seed", 1]
    runs = {  # label -> (model dir, command)
        "ours (--bfloat16 auto)": (dirs["auto"], ours + ["--model_dir", dirs["auto"]]),
        "ours, float32 (--bfloat16 off)": (dirs["f32"], ours + ["--model_dir", dirs["f32"], "--bfloat16", "off"]),
        "t2t-trainer (reference)": (dirs["t2t"], t2t_trainer + ["--output_dir=" + dirs["t2t"]]),
        "t2t-trainer, the set before": (dirs["before"], t2t_trainer + ["--output_dir=" + dirs["before"],
                                                                       "--hparams=" + SET_BEFORE]),
    }
    results = {}
    for name, (model_dir, args) in runs.items():
        print("  training the shipped set %s, %s (log %s)" % (hparams_set, name, model_dir + ".log"), flush=True)
        launched, seconds = run_t2t_env(args, model_dir + ".log")
        progress = training_progress(model_dir)
        results[name] = dict(progress, startup_s=progress["first_step_time"] - launched, wall_s=seconds)
    return hparams_set, results


def export_warm_start(work: str) -> str | None:
    if not os.path.isdir(WARM_START):
        return None
    print("  exporting the warm start %s (log %s/warm-export.log)" % (WARM_START, work), flush=True)
    base = os.path.join(work, "export-warm")
    run_t2t_env(["trainer", "export", "--model_dir", WARM_START, "--model_base_path", base],
                os.path.join(work, "warm-export.log"))
    return evaluate.find_saved_model(base)  # the version directory


def main() -> int:
    from data import preprocess
    work = tempfile.mkdtemp(prefix="ghsumm-bench-trainer-")
    data_dir = os.path.join(work, "data")
    print("trainer benchmark (%s%s): work dir %s" % (HPARAMS_SET, ", QUICK" if QUICK else "", work), flush=True)
    print("  preprocessing the bundled sample", flush=True)
    preprocess.run(["--input", tiny_model.SAMPLE_CSV, "--output_dir", data_dir])
    model_dir, train = benchmark_training(data_dir, work)
    version_dir, export = benchmark_export(model_dir, data_dir, work)
    n_bodies = max(SINGLE_TITLES, BATCH)
    bodies = [i["body"] for i in evaluate.load_eval_issues(os.path.join(data_dir, evaluate.EVAL_ISSUES), n_bodies)]
    decode = {"tiny model (%d steps)" % TRAIN_STEPS: benchmark_decode(version_dir, bodies)}
    warm = export_warm_start(work)
    if warm:
        decode["warm start (step %s)" % os.path.basename(warm)] = benchmark_decode(warm, bodies)

    ours, ref = train["ours"], train["t2t"]
    print("\ntraining, %s, %d steps on the bundled sample (steady state: the last %d steps):"
          % (HPARAMS_SET, TRAIN_STEPS, ours["measured_steps"]))
    print("  %-34s %8s %10s %9s %11s %9s" % ("", "steps/s", "examples/s", "tokens/s", "start-up s", "total s"))
    for label, r in (("python -m trainer train", ours), ("t2t-trainer (reference)", ref)):
        print("  %-34s %8.2f %10.0f %9.0f %11.1f %9.1f" % (
            label, r["steps_per_s"], r["steps_per_s"] * r["examples_per_step"], r["steps_per_s"] * r["tokens_per_step"],
            r["startup_s"], r["wall_s"]))
    print("  RATIO steps/s ours / t2t-trainer = %.2f; start-up ours / t2t-trainer = %.2f"
          % (ours["steps_per_s"] / ref["steps_per_s"], ours["startup_s"] / ref["startup_s"]))
    print("  (examples/s, tokens/s: steps/s x the mean of the %d batches the summaries sampled, non-padding tokens\n"
          "   of inputs + targets; the two runs sample different batches, so only steps/s compares speed)"
          % ours["samples"])

    ours_s, ref_s = export["ours"], export["t2t"]
    print("\nexport of the same checkpoint (beam %d, alpha %s), wall time:" % (BEAM_SIZE, ALPHA))
    print("  %-34s %6.1f s" % ("python -m trainer export", ours_s))
    print("  %-34s %6.1f s" % ("t2t-exporter (reference)", ref_s))
    print("  RATIO wall time ours / t2t-exporter = %.2f" % (ours_s / ref_s))

    print("\nsingle-title decode in this process, %d eval-split bodies (ms):" % SINGLE_TITLES)
    print("  %-26s %5s %8s %8s %22s %8s %10s" % ("model", "beam", "p50", "p95", "batch-of-%d per issue" % BATCH,
                                                "RATIO", "title ids"))
    for label, d in decode.items():
        print("  %-26s %5d %8.1f %8.1f %22.1f %7.1fx %10.1f" % (label, d["beam"], d["p50"], d["p95"], d["batch"],
                                                                d["p50"] / d["batch"], d["title_ids"]))
    print("  RATIO: single-call p50 / the reference, the per-issue time of a batch-of-%d call of the same model"
          % BATCH)
    if any(d["title_ids"] < 1 for d in decode.values()):
        print("  (a model writing near-empty titles decodes faster than a trained one: its times are a floor)")
    if not warm:
        print("  warm start: data/warm_start/ is absent, skipped")

    shipped = benchmark_shipped_set(work) if SHIPPED else None
    if shipped:
        hparams_set, runs = shipped
        print("\ntraining the shipped set %s from scratch, %d steps on the bundled sample:" % (hparams_set, TRAIN_STEPS))
        print("  %-32s %8s %10s %9s" % ("", "steps/s", "tokens/s", "tokens/step"))
        for label, r in runs.items():
            print("  %-32s %8.2f %10.0f %9.0f" % (label, r["steps_per_s"], r["steps_per_s"] * r["tokens_per_step"],
                                                 r["tokens_per_step"]))
        auto, f32, ref, before = (runs[k] for k in ("ours (--bfloat16 auto)", "ours, float32 (--bfloat16 off)",
                                                    "t2t-trainer (reference)", "t2t-trainer, the set before"))
        print("  RATIO steps/s ours (--bfloat16 auto) / float32 = %.2f; ours (--bfloat16 auto) / t2t-trainer = %.2f"
              % (auto["steps_per_s"] / f32["steps_per_s"], auto["steps_per_s"] / ref["steps_per_s"]))
        print("  RATIO steps/s ours (--bfloat16 auto) / t2t-trainer on the set before (T2T's loss of the whole log p,"
              " a dropout mask per element) = %.2f" % (auto["steps_per_s"] / before["steps_per_s"]))
        print("  (this CPU's bfloat16 matrix flags: %s; tokens/step is the mean of the few batches each run's summaries"
              " sample, so steps/s is what compares)" % (", ".join(project.bfloat16_cpu_flags()) or "none"))
    elif SHIPPED:
        print("\nshipped set: data/warm_start/ is absent, skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
