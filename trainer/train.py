"""Training: tensor2tensor's Transformer on the preprocessing job's data dir, resuming from the newest checkpoint.

    python -m trainer train --data_dir work/data --model_dir work/model --train_steps 1300 [--gpus 1]

--train_steps is the TOTAL, as in T2T: a model dir at step 1000 trained with --train_steps 1300 runs 300 more.
A run killed at any moment and started again resumes from the newest checkpoint (every --save_checkpoints_steps
steps, and at the end), losing at most the steps since it. Progress (step, steps/s, loss, ETA) is logged while
training; TensorBoard summaries go to the model dir; loss_curve.png is written there at the end.
On a CPU that multiplies bfloat16 matrices in hardware (Intel AMX, AVX-512 BF16) the matmuls run in bfloat16 and all
else in float32 (--bfloat16 auto, the default; the checkpoints stay float32): 1.2-1.4x the steps/s of float32.
Runs in the t2t environment (TF 2.15.1).
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time

from trainer import compat

compat.apply()

# pylint: disable=wrong-import-position
import tensorflow.compat.v1 as tf  # noqa: E402

from data import project  # noqa: E402
from trainer import checkpoint  # noqa: E402
from trainer import continuation  # noqa: E402
from trainer import hparams as project_hparams  # noqa: E402,F401  (registers the project's sets)
from trainer import problem as project_problem  # noqa: E402

log = logging.getLogger("ghsumm.train")

# Kept in float32 while the matmuls run in bfloat16. TF's automatic mixed precision would cast the element-wise
# ops between matmuls to bfloat16 too; on the copy model the vocabulary-sized mixture and softmax then cost more
# in casts and slow bfloat16 arithmetic than the matmuls save (docs/model-history.md, "Training speed").
FLOAT32_OPS = "Mul,Sub,AddV2,Add,Softmax,Log,Sigmoid,Exp,Sum,Mean,RealDiv,Neg,SquaredDifference,Rsqrt,Reciprocal"


class ProgressHook(tf.train.SessionRunHook):
    """Logs step, steps/s, training loss and ETA every `every_secs` seconds."""

    def __init__(self, train_steps: int, every_secs: float = 10.0):
        self.train_steps, self.every_secs = train_steps, every_secs

    def begin(self):
        self._step = tf.train.get_global_step()
        losses = [s for s in tf.get_collection(tf.GraphKeys.SUMMARIES) if s.op.name.startswith("losses/training")]
        self._loss = losses[0].op.inputs[1] if losses else None
        self._last_time = None

    def before_run(self, run_context):
        fetches = {"step": self._step}
        if self._loss is not None:
            fetches["loss"] = self._loss
        return tf.train.SessionRunArgs(fetches)

    def after_run(self, run_context, run_values):
        step, now = run_values.results["step"], time.time()
        if self._last_time is None:
            self._first_step, self._first_time = step, now
            self._last_time = now
            log.info("training from step %d to %d", step, self.train_steps)
            return
        if now - self._last_time < self.every_secs:
            return
        self._last_time = now
        rate = (step - self._first_step) / max(now - self._first_time, 1e-9)
        eta = (self.train_steps - step) / rate if rate > 0 else float("inf")
        loss = run_values.results.get("loss")
        log.info("step %d/%d  %.2f steps/s  loss %s  ETA %s", step, self.train_steps, rate,
                 "%.3f" % loss if loss is not None else "?", _duration(eta))


def _duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "?"
    seconds = int(seconds)
    return "%dh%02dm%02ds" % (seconds // 3600, seconds // 60 % 60, seconds % 60) if seconds >= 3600 else \
        "%dm%02ds" % (seconds // 60, seconds % 60)


def newest_step(model_dir: str) -> int:
    """The global step of the newest checkpoint in model_dir, 0 when there is none."""
    path = tf.train.latest_checkpoint(model_dir)
    return int(path.rsplit("-", 1)[1]) if path else 0


def gpu_count(requested: int) -> int:
    """How many GPUs T2T may use (its worker_gpu): the requested number, at most what the machine has."""
    available = tf.config.list_physical_devices("GPU")
    if requested and not available:
        log.warning("--gpus %d requested but this machine has no GPU: training on the CPU", requested)
    elif requested > len(available):
        log.warning("--gpus %d requested, %d available: using %d", requested, len(available), len(available))
    used = min(requested, len(available))
    log.info("devices: %s", ", ".join(d.name for d in available[:used]) if used else "CPU only")
    return used


def bfloat16_matmuls(choice: str, workers: int) -> bool:
    """Whether a run's matmuls are bfloat16: "on", "off", or "auto": on when it trains on a CPU that multiplies
    bfloat16 matrices in hardware (data.project.bfloat16_cpu_flags)."""
    if choice not in project.BFLOAT16_CHOICES:
        raise ValueError("--bfloat16 is one of %s, not %r" % ("/".join(project.BFLOAT16_CHOICES), choice))
    if choice != "auto":
        return choice == "on"
    return workers == 0 and bool(project.bfloat16_cpu_flags())


def use_bfloat16_matmuls(session_config) -> None:
    """Turns on oneDNN's bfloat16 rewrite of the training graph (grappler's auto_mixed_precision_onednn_bfloat16):
    matmuls in bfloat16, their inputs cast from and outputs to float32, the variables float32 as before. The
    rewrite reads its op lists from the environment when the session starts."""
    from tensorflow.core.protobuf import rewriter_config_pb2
    os.environ.setdefault("TF_AUTO_MIXED_PRECISION_GRAPH_REWRITE_INFERLIST_REMOVE", FLOAT32_OPS)
    session_config.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 = (
        rewriter_config_pb2.RewriterConfig.ON)


def record_run(model_dir: str, data_dir: str, hp, hparams_set: str, hparams: str) -> dict:
    """Stores the model's vocabulary and hyper-parameters beside its checkpoints (they travel with them)."""
    vocab = os.path.join(data_dir, project_problem.VOCAB_FILENAME)
    tf.io.gfile.makedirs(model_dir)
    tf.io.gfile.copy(vocab, os.path.join(model_dir, project_problem.VOCAB_FILENAME), overwrite=True)
    run = {"problem": project_problem.PROBLEM_NAME, "model": project_hparams.model_name(hp),
           "hparams_set": hparams_set, "hparams": hparams, "vocab_file": project_problem.VOCAB_FILENAME,
           "title_target": project_hparams.title_target(hp)}
    with tf.io.gfile.GFile(os.path.join(model_dir, checkpoint.RUN_FILE), "w") as f:
        f.write(json.dumps(run, indent=2) + "\n")
    return run


def train(data_dir: str, model_dir: str, train_steps: int, hparams_set: str = project_hparams.DEFAULT_HPARAMS_SET,
          hparams: str = "", gpus: int = 0, save_checkpoints_steps: int = 100, keep_checkpoint_max: int = 5,
          progress_secs: float = 10.0, random_seed: int | None = None, bfloat16: str = "auto") -> int:
    """Trains until the model dir's global step reaches train_steps; returns the final step. random_seed (as
    t2t-trainer's --random_seed) fixes the initialization and the input shuffling; None leaves them random.
    bfloat16: matmuls in bfloat16, "auto" | "on" | "off" (bfloat16_matmuls)."""
    from tensor2tensor.utils import trainer_lib
    checkpoint.check_compatible(model_dir, data_dir, hparams_set, hparams)  # before anything is built
    start_step = newest_step(model_dir)
    if start_step >= train_steps:
        log.info("model dir %s is at step %d >= --train_steps %d: nothing to train", model_dir, start_step,
                 train_steps)
        if not tf.io.gfile.exists(os.path.join(model_dir, "loss_curve.png")):
            write_loss_curve(model_dir)  # a killed run never wrote it
        train_second_model(data_dir, model_dir, train_steps, hparams_set, hparams, bfloat16, progress_secs)
        return start_step
    hp = trainer_lib.create_hparams(hparams_set, hparams)  # create_experiment adds data_dir and the problem
    record_run(model_dir, data_dir, hp, hparams_set, hparams)
    continued = continuation.read_record(model_dir)
    if continued:
        continuation.apply(hp, continued["start_step"], train_steps)
        log.info("continuing step %d of %s: learning rate x %s, warm-up %d steps%s", continued["start_step"],
                 continued.get("checkpoint", "?"), hp.ghsumm_continue_scale, hp.ghsumm_continue_warmup,
                 ", then down to step %d" % train_steps if hp.ghsumm_continue_decay else "")
    workers = gpu_count(gpus)
    if random_seed is not None:
        trainer_lib.set_random_seed(random_seed)
        log.info("random seed %d", random_seed)
    experiment = _experiment(hp, data_dir, model_dir, train_steps, workers, save_checkpoints_steps,
                             keep_checkpoint_max, random_seed, bfloat16,
                             [ProgressHook(train_steps, progress_secs)])
    started = time.time()
    experiment.train()
    final = newest_step(model_dir)
    log.info("trained %d -> %d steps in %s", start_step, final, _duration(time.time() - started))
    write_loss_curve(model_dir)
    train_second_model(data_dir, model_dir, train_steps, hparams_set, hparams, bfloat16, progress_secs)
    return final


def train_second_model(data_dir: str, model_dir: str, train_steps: int, hparams_set: str, hparams: str,
                       bfloat16: str = "auto", progress_secs: float = 10.0) -> None:
    """A continued run that carries a second model (copy_checkpoint brought it along) trains it as many steps as
    the model, on the same data and as gently, then stores it back as the model dir's second model: minimum Bayes
    risk pools both models' titles, and a second model left behind lost most of what it added (data/warm_start/
    README.md, "Continued training"). The hyper-parameter ghsumm_continue_second_model=0 leaves it as it is. Its
    training runs as its own `trainer train` (a second T2T graph in one process is not safe) in a sub-dir, which
    goes once the second model is stored; a killed run resumes it."""
    continued = continuation.read_record(model_dir)
    second = checkpoint.second_model_checkpoint(model_dir)
    if not continued or not second:
        return
    from tensor2tensor.utils import trainer_lib
    if not trainer_lib.create_hparams(hparams_set, hparams).get("ghsumm_continue_second_model", 1):
        return
    run_dir, second_start = checkpoint.prepare_second_model_training(model_dir)
    target = second_start + train_steps - continued["start_step"]
    if int(second.rsplit("-", 1)[1]) >= target:
        return
    log.info("training the second model too: steps %d -> %d", newest_step(run_dir), target)
    command = [sys.executable, "-m", "trainer", "train", "--data_dir", data_dir, "--model_dir", run_dir,
               "--train_steps", str(target), "--hparams_set", hparams_set, "--hparams", hparams,
               "--bfloat16", bfloat16, "--progress_secs", str(progress_secs)]
    subprocess.run(command, check=True)
    checkpoint.add_second_model(run_dir, model_dir)
    tf.io.gfile.rmtree(run_dir)
    log.info("the second model is at step %d", target)


def _experiment(hp, data_dir: str, model_dir: str, train_steps: int, workers: int = 0,
                save_checkpoints_steps: int = 100, keep_checkpoint_max: int = 5, random_seed: int | None = None,
                bfloat16: str = "auto", hooks: list | None = None):
    """T2T's experiment (estimator, train and eval input) for hparams hp on data_dir, checkpoints in model_dir."""
    from tensor2tensor.utils import trainer_lib
    model = project_hparams.model_name(hp)
    run_config = trainer_lib.create_run_config(
        model_name=model, model_dir=model_dir, save_checkpoints_steps=save_checkpoints_steps,
        keep_checkpoint_max=keep_checkpoint_max, num_gpus=workers, schedule="train", random_seed=random_seed,
        # the daisy chain copies variables between GPUs; with one device it only costs, and it breaks T2T's
        # bfloat16 activations (its getter calls read_value() on the bfloat16 cast, a tensor)
        daisy_chain_variables=workers > 1)
    if bfloat16_matmuls(bfloat16, workers):
        use_bfloat16_matmuls(run_config.session_config)
        log.info("matmuls in bfloat16 (--bfloat16 %s; CPU flags %s), the rest in float32", bfloat16,
                 ", ".join(project.bfloat16_cpu_flags()) or "none")
    return trainer_lib.create_experiment(
        run_config, hp, model, project_problem.PROBLEM_NAME, data_dir, train_steps, eval_steps=1,
        schedule="train", additional_train_hooks=hooks or [])


def dev_loss(data_dir: str, model_dir: str, steps: list[int] | None = None,
             hparams_set: str = project_hparams.DEFAULT_HPARAMS_SET, hparams: str = "") -> dict[int, float]:
    """The loss (teacher-forced, dropout off) of model_dir's checkpoints on data_dir's eval split: step -> loss.
    steps: which checkpoints (default: every one in the model dir). A cheap measure of what a run did to the
    model between checkpoints, without decoding (data/warm_start/README.md, "Continued training")."""
    from tensor2tensor.utils import trainer_lib
    by_step = {int(p[:-len(".index")].rsplit("-", 1)[1]): p[:-len(".index")]
               for p in tf.io.gfile.glob(os.path.join(model_dir, "model.ckpt-*.index"))}
    chosen = sorted(by_step) if steps is None else steps
    missing = [s for s in chosen if s not in by_step]
    if missing:
        raise FileNotFoundError("no checkpoint of step %s in %s (it has %s)" % (
            ", ".join(map(str, missing)), model_dir, ", ".join(map(str, sorted(by_step))) or "none"))
    hp = trainer_lib.create_hparams(hparams_set, hparams)
    experiment = _experiment(hp, data_dir, model_dir, max(chosen or [0]), bfloat16="off")
    spec = experiment._eval_spec  # pylint: disable=protected-access  (T2T keeps its eval input here)
    losses = {}
    for step in chosen:
        result = experiment.estimator.evaluate(spec.input_fn, steps=None, checkpoint_path=by_step[step],
                                               name="dev_loss")
        losses[step] = float(result["loss"])
        log.info("step %d: dev loss %.4f", step, losses[step])
    return losses


def write_loss_curve(model_dir: str) -> str | None:
    """loss_curve.png from the training summaries in model_dir (all runs so far), for people to look at."""
    points = []
    for path in sorted(tf.io.gfile.glob(os.path.join(model_dir, "events.out.tfevents.*"))):
        try:
            for event in tf.train.summary_iterator(path):
                for value in event.summary.value:
                    if value.tag in ("loss", "losses/training"):
                        points.append((event.step, value.tag, value.simple_value))
        except tf.errors.DataLossError:  # the last event file of a killed run may be cut short
            continue
    if not points:
        log.warning("no loss summaries in %s: no loss curve written", model_dir)
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    tag = "loss" if any(t == "loss" for _, t, _ in points) else "losses/training"
    series = sorted({s: v for s, t, v in points if t == tag}.items())
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([s for s, _ in series], [v for _, v in series], marker="." if len(series) < 50 else None)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title("ghsumm training loss (%s)" % os.path.basename(os.path.normpath(model_dir)))
    ax.grid(alpha=0.3)
    out = os.path.join(model_dir, "loss_curve.png")
    with tf.io.gfile.GFile(out, "wb") as f:
        fig.savefig(f, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    log.info("loss curve: %s", out)
    return out
