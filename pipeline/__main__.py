"""The pipeline's command line (app environment):

    python -m pipeline compile [--output gh_summ.yaml]        KFP v2 IR for a cluster (images: GHSUMM_APP_IMAGE,
                                                             GHSUMM_T2T_IMAGE; accelerator: GHSUMM_ACCELERATOR)
    python -m pipeline run --local [--verbose] [--<parameter> VALUE ...]   the whole pipeline on this machine
                                                             (kfp.local); --verbose: all of kfp.local's output
    python -m pipeline status [--working_dir work]           the local model server / web app still running
    python -m pipeline stop [--working_dir work]             stop them
    python -m pipeline submit --host URL [--token T] [--experiment NAME] [--run_name NAME] [--schedule CRON]
                              [--param key=value ...]        compile and submit to a KFP cluster (pipeline/submit.py:
                                                             where the token comes from)
    python -m pipeline retrain --new_data FILE [--more_steps N] [--since DATE] [--old_data PATHS] [--<param> V]
                                                             continue the served model on new data (pipeline/retrain.py)
    python -m pipeline runs [--working_dir work]             the runs: start, duration, status, ROUGE-L, promotion
    python -m pipeline show RUN [--working_dir work]         one run in full
    python -m pipeline models [--working_dir work] [--model_name ghsumm]   the published versions, which is served
    python -m pipeline rollback --version N [--working_dir work] [--model_name ghsumm]  serve version N again
                                                             (records: pipeline/records.py; rollback: serving/versions.py)
    python -m pipeline watch --trigger_dir DIR [--once] [--interval S] [--command run|retrain] [--host URL]
                             [--<parameter> VALUE ...]      one run per trigger file dropped in DIR (pipeline/trigger.py)

Every pipeline parameter is a flag of `run` (python -m pipeline run --help lists them with their defaults).
A run ends with the model server (and web app) running on localhost and a summary; exit 0 when it succeeded.
Finish a failed run without redoing its finished steps: --run_id <its id> --start_step <first step to redo>.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

DEFAULT_YAML = "gh_summ.yaml"


def pipeline_parameters() -> dict:
    from pipeline.gh_summ import parameters
    return parameters()


def compile_pipeline(output: str) -> str:
    from pipeline.gh_summ import compile_pipeline as compile_yaml
    return compile_yaml(output)


def _bool_str(value: str) -> str:
    if value not in ("true", "false"):
        raise argparse.ArgumentTypeError("'true' or 'false'")
    return value


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("compile", help="write the pipeline's KFP v2 YAML")
    p.add_argument("--output", default=DEFAULT_YAML)

    p = sub.add_parser("run", help="run the pipeline")
    p.add_argument("--local", action="store_true", required=True,
                   help="with kfp.local on this machine (for a cluster: compile, then submit)")
    p.add_argument("--train_retries", type=int, default=0, help="train's retries in a local run (default 0; the "
                   "compiled pipeline has 3, with backoff, for preemptible nodes)")
    p.add_argument("--verbose", action="store_true", default=None, help="print kfp.local's whole output (executor "
                   "inputs, every line of every step); default: each step's start, progress and end (GHSUMM_VERBOSE=1 "
                   "does the same)")
    for name, default in pipeline_parameters().items():
        kind = json.loads if isinstance(default, (dict, list)) else type(default)
        if name in ("deploy_webapp", "run_load_test"):
            kind = _bool_str
        p.add_argument("--" + name, type=kind, default=default, help="default: %r" % (default,))
    for name in ("status", "stop"):
        p = sub.add_parser(name, help="the local model server / web app: %s" % ("list" if name == "status" else name))
        p.add_argument("--working_dir", default="work")
    from pipeline import submit
    p = sub.add_parser("submit", help="compile and submit to a Kubeflow Pipelines cluster (a run, or a recurring "
                       "run with --schedule)")
    submit.add_arguments(p)
    from pipeline import retrain
    p = sub.add_parser("retrain", help="a run that continues the served model on old + new data (promoted only when "
                       "promote_rule says so)")
    retrain.add_arguments(p, pipeline_parameters())
    p = sub.add_parser("runs", help="list the runs of a working dir (and the submitted ones)")
    p.add_argument("--working_dir", default="work")
    p = sub.add_parser("show", help="one run's record in full")
    p.add_argument("run", help="run id (a dir under the working dir), or a submitted run's KFP id")
    p.add_argument("--working_dir", default="work")
    for name in ("models", "rollback"):
        p = sub.add_parser(name, help="the published model versions" if name == "models" else
                           "serve an earlier version again (newer ones move to <model>.retired/)")
        p.add_argument("--working_dir", default="work")
        p.add_argument("--model_name", default="ghsumm")
        if name == "rollback":
            p.add_argument("--version", type=int, required=True)
    from pipeline import trigger
    p = sub.add_parser("watch", help="start one pipeline run per trigger file dropped in a directory")
    trigger.add_arguments(p, pipeline_parameters())
    return parser.parse_args(argv)


def working_dir_of(args) -> str:
    """--working_dir made absolute (a gs:// URI as it is)."""
    return args.working_dir if "://" in args.working_dir else os.path.abspath(args.working_dir)


def records_command(args) -> int:
    from pipeline import records
    from serving import versions
    working_dir = working_dir_of(args)
    try:
        if args.command == "runs":
            print(records.format_runs(records.list_runs(working_dir)))
        elif args.command == "show":
            print(records.format_run(records.find_run(working_dir, args.run)))
        elif args.command == "models":
            print(records.format_models(records.models(working_dir, args.model_name),
                                        records.served_now(working_dir, args.model_name)))
        else:
            event = versions.rollback(working_dir, args.model_name, args.version)
            if event["retired"] or event["restored"]:
                print("rollback: version %d is now the highest under %s%s%s" % (
                    args.version, versions.base_path(working_dir, args.model_name),
                    "; restored from %s" % versions.retired_path(working_dir, args.model_name)
                    if event["restored"] else "",
                    "; retired %s" % ", ".join(map(str, event["retired"])) if event["retired"] else ""))
            else:
                print("rollback: version %d is already the highest: nothing to do" % args.version)
            served = records.served_now(working_dir, args.model_name)
            if served:
                print("the model server %s switches to it within its poll interval" % served[1])
    except records.USER_ERRORS as e:
        print("%s: %s" % (args.command, e), file=sys.stderr)
        return 2
    return 0


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "compile":
        print("wrote %s" % compile_pipeline(args.output))
        return 0
    if args.command == "submit":
        from pipeline import submit
        return submit.submit(args, compile_pipeline, pipeline_parameters())
    if args.command == "retrain":
        from pipeline import retrain
        return retrain.main(args, pipeline_parameters())
    if args.command in ("runs", "show", "models", "rollback"):
        return records_command(args)
    if args.command == "watch":
        from pipeline import trigger
        return trigger.watch(args, pipeline_parameters())
    from pipeline import local
    if args.command == "run":
        params = {k: v for k, v in vars(args).items() if k not in ("command", "local", "train_retries", "verbose")}
        status = local.run(params, train_retries=args.train_retries, verbose=args.verbose)
        print(local.summary(status, working_dir_of(args)))
        return 0 if status["state"] == "SUCCEEDED" else 1
    if args.command == "status":
        running = local.processes(working_dir_of(args))
        for name, record in running.items():
            print("%s: pid %s, %s (log %s)" % (name, record["pid"], record.get("rest_url") or record.get("url"),
                                               record.get("log")))
        if not running:
            print("nothing running from %s" % args.working_dir)
        return 0
    stopped = local.stop(working_dir_of(args))
    print("stopped: %s" % (", ".join(stopped) if stopped else "nothing was running"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
