"""export: `python -m trainer export` (t2t environment): the newest checkpoint as a numbered SavedModel version
(version = global step) under <run dir>/export. Returns that base path (evaluate and serve take the newest
version under it); outputs the version as a Model artifact naming the checkpoint Model and the Dataset it came
from (components/artifacts.py)."""
from kfp import dsl

from components.images import T2T_IMAGE


@dsl.component(base_image=T2T_IMAGE, install_kfp_package=False)
def export(run_dir: str, model_dir: str, start_step: str, checkpoint: dsl.Input[dsl.Model],
           dataset: dsl.Input[dsl.Dataset], saved_model: dsl.Output[dsl.Model]) -> str:
    import os

    from components import _runtime as rt, artifacts, rundir
    from data import files

    record = rt.reused(run_dir, "export", start_step)
    if record:
        artifacts.saved_model(saved_model, record.get("version_path", ""), checkpoint, dataset)
        return record["export_dir"]
    export_dir = rundir.output_dir(run_dir, "export")
    # TF's file system: local paths, or local copies where it cannot reach the store (data/files.py)
    with files.tf_path(model_dir) as model_here, files.tf_path(export_dir, write_back=True) as export_here:
        out = rt.run_cli("export", run_dir, ["-m", "trainer", "export", "--model_dir", model_here,
                                             "--model_base_path", export_here], python=rt.t2t_python())
    lines = [os.path.join(export_dir, os.path.basename(line.rstrip("/")))  # the version dir, where it was copied
             for line in out.strip().splitlines()[-1:]]
    rt.record_step(run_dir, "export", export_dir=export_dir, version_path=lines[-1] if lines else "")
    artifacts.saved_model(saved_model, lines[-1] if lines else "", checkpoint, dataset)
    return export_dir
