"""export: `python -m trainer export` (t2t environment): the newest checkpoint as a numbered SavedModel version
(version = global step) under <run dir>/export. Returns that base path (evaluate and serve take the newest
version under it)."""
from kfp import dsl

from components.images import T2T_IMAGE


@dsl.component(base_image=T2T_IMAGE, install_kfp_package=False)
def export(run_dir: str, model_dir: str, start_step: str) -> str:
    from components import _runtime as rt, rundir

    record = rt.reused(run_dir, "export", start_step)
    if record:
        return record["export_dir"]
    export_dir = rundir.output_dir(run_dir, "export")
    out = rt.run_cli("export", run_dir, ["-m", "trainer", "export", "--model_dir", model_dir,
                                         "--model_base_path", export_dir], python=rt.t2t_python())
    lines = out.strip().splitlines()
    rt.record_step(run_dir, "export", export_dir=export_dir, version_path=lines[-1] if lines else "")
    return export_dir
