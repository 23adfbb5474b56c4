"""One KFP v2 component per pipeline step (pipeline/gh_summ.py wires them). Each is thin: it parses its inputs,
calls the project's CLI for that step (the t2t ones with the t2t environment's interpreter), and writes its
outputs under the run dir (working_dir/<run id>/..., laid out by components/rundir.py), recording them in its step
record.

    init_run        components/init_run.py         the run dir, run.json (parameters)
    preprocess      components/preprocess.py       python -m data.preprocess           (app image)
    copy_checkpoint components/copy_checkpoint.py  python -m trainer copy_checkpoint   (t2t image)
    train           components/train.py            python -m trainer train             (t2t image, GPU)
    export          components/export.py           python -m trainer export            (t2t image)
    evaluate        components/evaluate.py         trainer/judge.py: trainer.evaluate, promotion -> gate (t2t image)
    serve           components/serve.py            serving/deploy.py: publish + model server / tensorflow/serving
    webapp          components/webapp.py           webapp/launch.py: python -m webapp / its Deployment
    load_test       components/load_test.py        python -m serving.load_test (Locust)
    finalize        components/finalize.py         the exit handler: status.json, rollback on failure
"""
STEPS = ["preprocess", "copy_checkpoint", "train", "export", "evaluate", "serve", "webapp", "load_test"]
