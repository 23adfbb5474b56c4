"""train: `python -m trainer train` (t2t environment) to a TOTAL of train_steps, resuming from the newest
checkpoint in the model dir (so a retried or restarted task continues, it does not start over). gpus: T2T's
worker_gpu; with none visible the trainer says so and uses the CPU. Returns the model dir; outputs it as a Model
artifact (its newest step, the Dataset it trained on: components/artifacts.py).
The pipeline asks for a GPU node, CPU/memory and retries with backoff for this task (pipeline/gh_summ.py)."""
from kfp import dsl

from components.images import T2T_IMAGE


@dsl.component(base_image=T2T_IMAGE, install_kfp_package=False)
def train(run_dir: str, data_dir: str, model_dir: str, train_steps: int, hparams_set: str, hparams: str,
          gpus: int, start_step: str, dataset: dsl.Input[dsl.Dataset], checkpoint: dsl.Output[dsl.Model]) -> str:
    from components import _runtime as rt, artifacts, rundir
    from data import files

    warm_start = rundir.read_step(run_dir, "copy_checkpoint", {}).get("checkpoint_dir", "")
    record = rt.reused(run_dir, "train", start_step)
    if record:
        artifacts.checkpoint(checkpoint, record["model_dir"], dataset, hparams_set, warm_start)
        return record["model_dir"]
    # TF's file system: local paths, or local copies where it cannot reach the store (data/files.py)
    with files.tf_path(data_dir) as data_here, files.tf_path(model_dir, write_back=True) as model_here:
        out = rt.run_cli("train", run_dir,
                         ["-m", "trainer", "train", "--data_dir", data_here, "--model_dir", model_here,
                          "--train_steps", train_steps, "--hparams_set", hparams_set, "--hparams", hparams,
                          "--gpus", gpus, "--progress_secs", 30],  # a progress line every 30 s
                         python=rt.t2t_python())
    last = [line for line in out.splitlines() if line.startswith("model dir ")]
    rt.record_step(run_dir, "train", model_dir=model_dir, train_steps=train_steps, hparams_set=hparams_set,
                   hparams=hparams, result=last[-1] if last else "")
    artifacts.checkpoint(checkpoint, model_dir, dataset, hparams_set, warm_start)
    return model_dir
