"""preprocess: `python -m data.preprocess` (Apache Beam) on the run's input into <run dir>/data.

data: input files/globs, comma-separated (CSV / JSONL, local or gs://), or an already preprocessed data dir
(vocabulary + TFRecords), which is then used as is. With a warm-start checkpoint_dir the data is encoded with
the checkpoint's vocabulary (the model can only continue with the vocabulary it was trained with) and its train
targets are what the checkpoint learned to write (its ghsumm_model.json's title_target: the titles, or the body
span that best matches each, for the shipped copy model).
Both enter as artifacts imported by the pipeline (dsl.importer; "" or "none": no checkpoint).
new_data: a retrain's new issue files/globs, comma-separated ("": none): --new_input, written new_weight times into
the train records, new_eval_percent of them held out as new_eval_issues.jsonl (data/preprocess.py).
beam_args: extra flags for Beam, space-separated (e.g. --runner DataflowRunner --project P --region R ...).
Returns the data dir; outputs it as a Dataset artifact with stats.json's counts (components/artifacts.py)."""
from kfp import dsl

from components.images import APP_IMAGE


@dsl.component(base_image=APP_IMAGE, install_kfp_package=False)
def preprocess(run_dir: str, data: dsl.Input[dsl.Dataset], checkpoint: dsl.Input[dsl.Model], new_data: str,
               new_weight: int, new_eval_percent: float, beam_args: str, start_step: str,
               dataset: dsl.Output[dsl.Dataset]) -> str:
    import os
    import shlex

    from components import _runtime as rt, artifacts, rundir
    from data import contract

    data, checkpoint_dir = data.uri, checkpoint.uri  # imported artifacts: their URIs are the paths given
    checkpoint_dir = "" if checkpoint_dir in ("", "none") else checkpoint_dir
    record = rt.reused(run_dir, "preprocess", start_step)
    if record:
        artifacts.dataset(dataset, record["data_dir"], source=data)
        return record["data_dir"]
    inputs = [p.strip() for p in data.split(",") if p.strip()]
    new_inputs = [p.strip() for p in new_data.split(",") if p.strip()]
    if not inputs:
        raise ValueError("data is empty: give input files/globs or a preprocessed data dir")

    if len(inputs) == 1 and contract.is_preprocessed(inputs[0]):
        if new_inputs:
            raise ValueError("data %s is a preprocessed data dir: new_data cannot be added to it" % inputs[0])
        data_dir = inputs[0]
        print("[preprocess] %s is a preprocessed data dir: used as is" % data_dir)
    else:
        data_dir = rundir.output_dir(run_dir, "data")
        args = ["-m", "data.preprocess", "--output_dir", data_dir]
        for p in inputs:
            args += ["--input", p]
        if new_inputs:
            args += ["--new_weight", new_weight, "--new_eval_percent", new_eval_percent]
            for p in new_inputs:
                args += ["--new_input", p]
        if checkpoint_dir:
            args += contract.warm_start_flags(checkpoint_dir)
        rt.run_cli("preprocess", run_dir, args + shlex.split(beam_args))
    rt.record_step(run_dir, "preprocess", data_dir=data_dir, stats_path=os.path.join(data_dir, "stats.json"))
    artifacts.dataset(dataset, data_dir, source=data)  # the data dir as a Dataset, with its counts
    return data_dir
