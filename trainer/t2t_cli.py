"""Run tensor2tensor's own command-line tools, unchanged, with the project's shims and problems loaded.

    python -m trainer.t2t_cli trainer <t2t-trainer flags>   # tensor2tensor.bin.t2t_trainer
    python -m trainer.t2t_cli datagen <t2t-datagen flags>   # tensor2tensor.bin.t2t_datagen
    python -m trainer.t2t_cli export  <t2t-exporter flags>  # tensor2tensor.serving.export
    python -m trainer.t2t_cli decoder <t2t-decoder flags>   # tensor2tensor.bin.t2t_decoder

e.g. `python -m trainer.t2t_cli trainer --data_dir=DIR --problem=github_issue_summarization --model=transformer
--hparams_set=transformer_ghsumm_tiny --train_steps=5 --output_dir=OUT` trains exactly as `t2t-trainer` would.
Runs in the t2t environment (TF 2.15.1). Each tool defines its own absl flags, so one process runs one tool.
"""
import importlib
import sys

TOOLS = {
    "trainer": "tensor2tensor.bin.t2t_trainer",
    "datagen": "tensor2tensor.bin.t2t_datagen",
    "export": "tensor2tensor.serving.export",
    "decoder": "tensor2tensor.bin.t2t_decoder",
}


def main(argv=None):
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] not in TOOLS:
        sys.stderr.write("usage: python -m trainer.t2t_cli {%s} [tool flags...]\n" % "|".join(TOOLS))
        return 2
    tool = argv[1]

    from trainer import compat
    compat.apply()  # before any tensor2tensor model/trainer import
    import trainer.problem  # noqa: F401  (registers github_issue_summarization)
    import trainer.hparams  # noqa: F401  (registers transformer_ghsumm_tiny / _small)

    module = importlib.import_module(TOOLS[tool])
    import tensorflow.compat.v1 as tf
    tf.logging.set_verbosity(tf.logging.INFO)
    # What the tool's own `if __name__ == "__main__"` block does; argv[0] names the tool in usage messages.
    tf.app.run(main=module.main, argv=["t2t-" + tool] + argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
