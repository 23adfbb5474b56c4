"""The trainer's command line (t2t environment):

    python -m trainer copy_checkpoint --checkpoint_dir SRC --model_dir DIR --data_dir DATA [--hparams_set S]
    python -m trainer train  --data_dir DATA --model_dir DIR --train_steps TOTAL [--hparams_set S] [--hparams H]
                             [--gpus N] [--save_checkpoints_steps 100] [--random_seed N] [--bfloat16 auto|on|off]
    python -m trainer dev_loss --data_dir DATA --model_dir DIR [--steps S1,S2]    checkpoints' loss on the eval split
    python -m trainer slim_checkpoint --model_dir DIR --out DIR2     the newest checkpoint without optimizer slots
    python -m trainer add_second_model --model_dir DIR --out DIR2    DIR's newest checkpoint as DIR2's second model
    python -m trainer export --model_dir DIR --model_base_path BASE [--beam_size 4] [--alpha A] [--no_second_model] [--graph xla|t2t]

Evaluation runs in the app environment: python -m trainer.evaluate --help.
Exit status 2 with a one-line message for bad input (missing data, incompatible checkpoint).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

from data import contract, project


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m trainer", description="train and export ghsumm models")
    sub = parser.add_subparsers(dest="command", required=True)

    def model_options(p):
        p.add_argument("--hparams_set", default="transformer_ghsumm_tiny",
                       help="T2T hyper-parameter set (transformer_ghsumm_tiny for CPUs; transformer_prepend or "
                            "transformer_base for GPUs)")
        p.add_argument("--hparams", default="", help="T2T overrides, e.g. batch_size=1024,max_length=128")

    p = sub.add_parser("copy_checkpoint", help="warm start: copy an existing checkpoint into the model dir")
    p.add_argument("--checkpoint_dir", required=True)
    p.add_argument("--model_dir", required=True)
    p.add_argument("--data_dir", required=True)
    model_options(p)

    p = sub.add_parser("train", help="train to a TOTAL step count, resuming from the newest checkpoint")
    p.add_argument("--data_dir", required=True)
    p.add_argument("--model_dir", required=True)
    p.add_argument("--train_steps", type=int, required=True, help="TOTAL steps, as in T2T")
    p.add_argument("--gpus", type=int, default=0, help="GPUs to use (T2T's worker_gpu); 0 or none found: CPU")
    p.add_argument("--save_checkpoints_steps", type=int, default=100)
    p.add_argument("--keep_checkpoint_max", type=int, default=5)
    p.add_argument("--progress_secs", type=float, default=10.0)
    p.add_argument("--random_seed", type=int, default=None,
                   help="fix the initialization and input shuffling (as t2t-trainer's); default: random")
    p.add_argument("--bfloat16", choices=project.BFLOAT16_CHOICES, default="auto",
                   help="matmuls in bfloat16, all else float32 (auto: on a CPU with AMX or AVX-512 BF16)")
    model_options(p)

    p = sub.add_parser("dev_loss", help="the loss of a model dir's checkpoints on the data dir's eval split")
    p.add_argument("--data_dir", required=True)
    p.add_argument("--model_dir", required=True)
    p.add_argument("--steps", default="", help="the checkpoints' steps, comma-separated (default: all listed)")
    model_options(p)

    p = sub.add_parser("slim_checkpoint", help="the newest checkpoint without the optimizer slots (to ship)")
    p.add_argument("--model_dir", required=True)
    p.add_argument("--out", required=True)

    p = sub.add_parser("add_second_model", help="the newest checkpoint of --model_dir as --out's second model (its "
                                                "beam titles join the candidates of --out's exports)")
    p.add_argument("--model_dir", required=True)
    p.add_argument("--out", required=True)

    p = sub.add_parser("average_checkpoints", help="a slim checkpoint of the mean weights of several checkpoints")
    p.add_argument("--model_dir", required=True)
    p.add_argument("--steps", required=True, help="the checkpoints' steps, comma-separated")
    p.add_argument("--out", required=True)

    p = sub.add_parser("export", help="export the newest checkpoint as a numbered SavedModel version")
    p.add_argument("--model_dir", required=True)
    p.add_argument("--model_base_path", required=True)
    p.add_argument("--beam_size", type=int, default=4)
    p.add_argument("--alpha", type=float, default=None,
                   help="length penalty of the beam search (default: the hparams set's, 0.6 unless it says)")
    p.add_argument("--min_length", type=int, default=None,
                   help="the fewest subwords a title has (copy model; default: the hparams set's, 0 unless it says)")
    p.add_argument("--no_repeat_ngram", type=int, choices=(0, 3), default=None,
                   help="3: no subword trigram written twice (copy model; default: the hparams set's)")
    p.add_argument("--max_length", type=int, default=None,
                   help="the most subwords a title has (copy model; default: the hparams set's, 0: no maximum)")
    p.add_argument("--no_repeat_word", type=int, default=None,
                   help="N: no word of N letters or more written twice (copy model; default: the hparams set's, "
                        "0: allowed)")
    p.add_argument("--no_tag_start", type=int, choices=(0, 1), default=None,
                   help="1: a title does not begin with a bracketed tag such as [devtools bug] (copy model; default: "
                        "the hparams set's)")
    p.add_argument("--mbr_samples", type=int, default=None,
                   help="N: of the beam's titles, the one that agrees most with N sampled titles (minimum Bayes "
                        "risk; copy model; default: the hparams set's, 0: the top beam)")
    p.add_argument("--no_second_model", action="store_true",
                   help="leave out the second model the model dir carries (its beam titles are candidates too)")
    p.add_argument("--graph", choices=("xla", "t2t"), default="xla",
                   help="xla (default): the copy model decoded by minimum Bayes risk as one XLA loop "
                        "(trainer/fast_decode.py), 3x+ faster, the same titles; t2t: T2T's own graph (any model)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format=project.LOG_FORMAT, force=True)
    project.fast_tensorflow_cpu()
    from trainer import checkpoint  # applies the shims, imports TF 2.15 + T2T
    import tensorflow.compat.v1 as tf
    tf.logging.set_verbosity(tf.logging.WARN)
    try:
        if args.command == "copy_checkpoint":
            step = checkpoint.copy_checkpoint(args.checkpoint_dir, args.model_dir, args.data_dir, args.hparams_set,
                                              args.hparams)
            print(f"model dir {args.model_dir} starts from step {step}")
        elif args.command == "train":
            from trainer import train
            step = train.train(args.data_dir, args.model_dir, args.train_steps, args.hparams_set, args.hparams,
                               args.gpus, args.save_checkpoints_steps, args.keep_checkpoint_max, args.progress_secs,
                               args.random_seed, args.bfloat16)
            print(f"model dir {args.model_dir} at step {step}")
        elif args.command == "dev_loss":
            from trainer import train
            steps = [int(s) for s in args.steps.split(",") if s.strip()] or None
            losses = train.dev_loss(args.data_dir, args.model_dir, steps, args.hparams_set, args.hparams)
            print(json.dumps({str(k): round(v, 4) for k, v in losses.items()}))
        elif args.command == "slim_checkpoint":
            print(checkpoint.slim_checkpoint(args.model_dir, args.out))
        elif args.command == "add_second_model":
            print(checkpoint.add_second_model(args.model_dir, args.out))
        elif args.command == "average_checkpoints":
            steps = [int(s) for s in args.steps.split(",") if s.strip()]
            print(checkpoint.average_checkpoints(args.model_dir, steps, args.out))
        else:
            from trainer import export
            rules = {rule: getattr(args, rule) for rule in contract.DECODE_RULES}  # None: the set's
            print(export.export(args.model_dir, args.model_base_path, args.beam_size, args.alpha, rules,
                                not args.no_second_model, args.graph))
    except (checkpoint.IncompatibleCheckpoint, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
