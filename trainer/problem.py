"""The T2T problem `github_issue_summarization`: issue body -> issue title.

It only READS what the preprocessing job (`python -m data.preprocess`) wrote into --data_dir:

  vocab.github_issue_summarization.8192.subwords           (SubwordTextEncoder vocabulary)
  github_issue_summarization-train-00000-of-0000N ...       (TFRecords of tf.train.Example)
  github_issue_summarization-dev-00000-of-00001

Each Example holds int64 "inputs" (body) and "targets" (title) subword ids, each ending with EOS (id 1).
`generate_data` never regenerates anything. Runs in the t2t environment (TF 2.15.1).
"""
import os

from trainer import compat

compat.apply()

# pylint: disable=wrong-import-position
import tensorflow.compat.v1 as tf  # noqa: E402
from tensor2tensor.data_generators import problem, text_problems  # noqa: E402
from tensor2tensor.utils import registry  # noqa: E402

from data.contract import APPROX_VOCAB_SIZE, PROBLEM_NAME, VOCAB_FILENAME  # noqa: E402,F401  (the contract)


@registry.register_problem
class GithubIssueSummarization(text_problems.Text2TextProblem):
    """Generate a GitHub issue's title from its body, from already-preprocessed TFRecords."""

    @property
    def approx_vocab_size(self):
        return APPROX_VOCAB_SIZE

    @property
    def vocab_type(self):
        return text_problems.VocabType.SUBWORD

    @property
    def is_generate_per_split(self):
        return True

    def required_files(self, data_dir):
        """Glob patterns (one per needed file group) that must match in data_dir."""
        return [os.path.join(data_dir, self.vocab_filename),
                self.filepattern(data_dir, problem.DatasetSplit.TRAIN),
                self.filepattern(data_dir, problem.DatasetSplit.EVAL)]

    def generate_data(self, data_dir, tmp_dir, task_id=-1):
        del tmp_dir, task_id
        missing = [p for p in self.required_files(data_dir) if not tf.io.gfile.glob(p)]
        if missing:
            raise FileNotFoundError(
                "%s: preprocessed data not found in %s (missing: %s). This problem never generates "
                "data itself: run the preprocessing job first, e.g. `python -m data.preprocess "
                "--input <issues.csv|jsonl> --output_dir %s`." % (self.name, data_dir, ", ".join(missing), data_dir))
        tf.logging.info("%s: preprocessed data found in %s; nothing to generate.", self.name, data_dir)

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        raise NotImplementedError(
            "%s reads TFRecords written by `python -m data.preprocess`; it does not generate samples."
            % self.name)
