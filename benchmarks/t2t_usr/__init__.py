"""A T2T problem for `t2t-datagen` that sees exactly the text the Beam job sees: the equivalence check and the
preprocessing benchmark run t2t-datagen with it (`--t2t_usr_dir=benchmarks/t2t_usr`).

It reads the raw files in --tmp_dir with the project's readers, applies the project's cleaning, drops exact
duplicates (keeping the smallest id, as the Beam job does) and splits train/eval by the same hash of the id.
The cleaned, de-duplicated issues are kept in memory after the first pass (T2T asks for the train split twice:
once for the vocabulary, once for encoding), so t2t-datagen is not slowed by re-reading.
"""
import glob
import os

from tensor2tensor.data_generators import problem, text_problems
from tensor2tensor.utils import registry

from data import clean, readers
from data.records import Issue, content_key, split_of

EVAL_PERCENT = 10.0
# The Beam job's --approx_vocab_size; the small equivalence test sets it to a size its 600 issues can reach.
APPROX_VOCAB_SIZE = int(os.environ.get("GHSUMM_DATAGEN_VOCAB_SIZE", 2 ** 13))


@registry.register_problem
class GithubIssueSummarizationDatagen(text_problems.Text2TextProblem):
    _issues = None

    @property
    def approx_vocab_size(self):
        return APPROX_VOCAB_SIZE

    @property
    def is_generate_per_split(self):
        return True

    @property
    def dataset_splits(self):
        return [{"split": problem.DatasetSplit.TRAIN, "shards": 10},
                {"split": problem.DatasetSplit.EVAL, "shards": 1}]

    def _unique_issues(self, tmp_dir):
        if self._issues is None:
            kept = {}
            for path in sorted(glob.glob(os.path.join(tmp_dir, "*"))):
                for row in readers.read_issues(path):
                    if not isinstance(row, Issue):
                        continue
                    issue = clean.clean_issue(row)
                    if not isinstance(issue, Issue):
                        continue
                    key = content_key(issue)
                    if key not in kept or issue.id < kept[key].id:
                        kept[key] = issue
            self._issues = list(kept.values())
        return self._issues

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        wanted = "train" if dataset_split == problem.DatasetSplit.TRAIN else "eval"
        for issue in self._unique_issues(tmp_dir):
            if split_of(issue.id, EVAL_PERCENT) == wanted:
                yield {"inputs": issue.body, "targets": issue.title}
