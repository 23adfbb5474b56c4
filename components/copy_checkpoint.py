"""copy_checkpoint: the warm start, `python -m trainer copy_checkpoint` (t2t environment) from the imported
checkpoint into <run dir>/model (vocabulary and layer sizes checked first; exit 2 with what differs). No checkpoint (URI "" or
"none"): the model trains from scratch. Returns the model dir."""
from kfp import dsl

from components.images import T2T_IMAGE


@dsl.component(base_image=T2T_IMAGE, install_kfp_package=False)
def copy_checkpoint(run_dir: str, data_dir: str, checkpoint: dsl.Input[dsl.Model], hparams_set: str, hparams: str,
                    start_step: str) -> str:
    from components import _runtime as rt, rundir
    from data import files

    checkpoint_dir = "" if checkpoint.uri in ("", "none") else checkpoint.uri  # imported by the pipeline

    record = rt.reused(run_dir, "copy_checkpoint", start_step)
    if record:
        return record["model_dir"]
    model_dir = rundir.output_dir(run_dir, "model")
    rt.makedirs(model_dir)
    if checkpoint_dir:
        # TF's file system: local paths, or local copies where it cannot reach the store (data/files.py)
        with files.tf_path(checkpoint_dir) as checkpoint_here, files.tf_path(data_dir) as data_here, \
                files.tf_path(model_dir, write_back=True) as model_here:
            rt.run_cli("copy_checkpoint", run_dir,
                       ["-m", "trainer", "copy_checkpoint", "--checkpoint_dir", checkpoint_here, "--model_dir",
                        model_here, "--data_dir", data_here, "--hparams_set", hparams_set, "--hparams", hparams],
                       python=rt.t2t_python())
    else:
        print("[copy_checkpoint] no checkpoint_dir: training starts from scratch")
    rt.record_step(run_dir, "copy_checkpoint", model_dir=model_dir, checkpoint_dir=checkpoint_dir)
    return model_dir
