"""The preprocessing job: raw issue files -> what `t2t-trainer --data_dir=...` reads (replaces t2t-datagen).

    python -m data.preprocess --input data/sample/github_issues_sample.csv --output_dir work/data
    python -m data.preprocess --input 'dumps/*.csv' --input new.jsonl --output_dir gs://b/data \
        --vocab_file gs://b/model/vocab.github_issue_summarization.8192.subwords --since 2024-01-01
    python -m data.preprocess ... --runner DataflowRunner --project P --region R --temp_location gs://b/tmp
    python -m data.preprocess --input old.csv --new_input new.jsonl --new_weight 2 --new_eval_percent 20 ...

Steps (each a named Beam transform): read and parse -> clean and validate -> drop exact duplicates -> split
train/eval by a hash of the issue id -> count tokens across workers -> build the T2T subword vocabulary from the
combined counts with T2T's own SubwordTextEncoder (or load an existing one) -> encode -> sharded TFRecords.

--new_input (a retrain's new issues, beside the old --input): read, cleaned and de-duplicated with the old ones
(an issue in both counts once, as new); split by the same id hash with their own --new_eval_percent; their train
examples are written --new_weight times into the train records (the vocabulary counts them once); their held-out
part joins the dev records and is written to new_eval_issues.jsonl, while eval_issues.jsonl keeps the old inputs'
eval split alone (the general dev set).

Output directory (T2T's Text2TextProblem layout for problem `github_issue_summarization`):
  vocab.github_issue_summarization.8192.subwords
  github_issue_summarization-train-000NN-of-000MM   tf.train.Example, int64 "inputs"/"targets" ending in EOS (1)
  github_issue_summarization-dev-00000-of-00001
  eval_issues.jsonl      the eval split as text (id, url, repo, title, body): for evaluation and the web app
  new_eval_issues.jsonl  with --new_input: the new issues' held-out part, as text (eval_issues.jsonl's rows)
  dead_letter.jsonl      every rejected row with its reason, source file and row number
  stats.json, stats.txt  counts per step, rejects and skips by reason, duplicates, length distributions,
                         vocabulary coverage (tokens that fell back to character pieces)

--title_target extract: the train split's targets are the title-sized span of the body that best matches the
title (data/pseudo_titles.py), what the shipped copy model (transformer_ghsumm_copy) learns and continues to
learn; eval_issues.jsonl keeps the real titles, which evaluation scores against. Default: the titles.

Every option not listed by --help is passed to Beam unchanged (--runner, --direct_num_workers, Dataflow, Flink
and Spark options, ...); without --runner the job runs on Beam's local FnApiRunner (the DirectRunner's batch
engine, named so that Beam does not try to download its Prism runner first). --workers N is a shortcut for its
multi-process mode.
"""
from __future__ import annotations

import argparse
import collections
import glob
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import typing
from typing import Optional

from data import project

project.quiet_beam()
import apache_beam as beam  # noqa: E402  (after quiet_beam)
from apache_beam.io.filesystems import FileSystems  # noqa: E402
from apache_beam.metrics import Metrics  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402

from data import clean, contract, pseudo_titles, readers, report, vocab  # noqa: E402
from data.report import METRICS_NAMESPACE
from data.records import Issue, Reject, content_key, split_of

log = logging.getLogger("ghsumm.preprocess")

PROGRESS_EVERY = 5000


vocab_filename = contract.vocab_filename


def _count(name: str, n: int = 1) -> None:
    Metrics.counter(METRICS_NAMESPACE, name).inc(n)


# ---------------------------------------------------------------- transforms

class ReadIssues(beam.DoFn):
    """One file in, its rows out: Issues on the main output, Rejects and Skips tagged."""

    def __init__(self, fmt: str, since: Optional[str], new: bool = False):
        self.fmt, self.since, self.new = fmt, since, new

    def process(self, path: str):
        start, n = time.time(), 0
        for row in readers.read_issues(path, self.fmt, self.since):
            n += 1
            _count("read.rows")
            if n % PROGRESS_EVERY == 0:
                log.info("read %d rows from %s (%.0f rows/s)", n, path, n / (time.time() - start))
            if isinstance(row, Issue):
                _count("read.issues")
                if self.new:
                    _count("new.read")
                if not (row.body or "").strip():
                    _count("raw.empty_body")
                yield row
            elif isinstance(row, Reject):
                _count(f"rejected.{row.reason}")
                yield beam.pvalue.TaggedOutput("rejects", row)
            else:
                _count(f"skipped.{row.reason}")
                yield beam.pvalue.TaggedOutput("skips", row)
        log.info("read %d rows from %s", n, path)


class CleanAndValidate(beam.DoFn):
    def __init__(self, lowercase: bool, max_body_words: int):
        self.lowercase, self.max_body_words = lowercase, max_body_words

    def process(self, issue: Issue):
        result = clean.clean_issue(issue, self.lowercase, self.max_body_words)
        if isinstance(result, Reject):
            _count(f"rejected.{result.reason}")
            yield beam.pvalue.TaggedOutput("rejects", result)
        else:
            _count("valid")
            yield result


def keep_first_of_duplicates(key_and_issues) -> tuple[bool, Issue]:
    """(is new, issue): exact duplicates (same cleaned title and body) keep one, deterministically: a new issue over
    old ones (an issue in both the old and the new inputs counts once, as new), then the smallest id."""
    _, issues = key_and_issues
    issues = list(issues)  # (is new, issue) pairs
    if len(issues) > 1:
        _count("duplicates", len(issues) - 1)
    new = any(is_new for is_new, _ in issues)
    if new:
        _count("new.unique")
        if not all(is_new for is_new, _ in issues):
            _count("new.also_in_old")
    return new, min((i for is_new, i in issues if is_new == new), key=lambda i: i.id)


class Example(typing.NamedTuple):
    """An issue on its way to a TFRecord: its split, its text as T2T tokens (tokenized once, used twice: for the
    vocabulary's counts and for encoding), and whether it came from --new_input."""
    split: str
    issue: Issue
    body_tokens: list
    title_tokens: list
    new: bool = False


TITLE_TARGETS = ("title", "extract")


def split_and_tokenize(new_and_issue: tuple[bool, Issue], eval_percent: float, title_target: str = "title",
                       new_eval_percent: float = 0.0) -> Example:
    """An old issue goes to eval by eval_percent, a new one by new_eval_percent (the same id hash)."""
    from tensor2tensor.data_generators import tokenizer
    new, issue = new_and_issue
    split = split_of(issue.id, new_eval_percent if new else eval_percent)
    if new:
        _count("new.train" if split == "train" else "new.held_out")
    target = issue.title
    if title_target == "extract" and split == "train":
        target = pseudo_titles.pseudo_title("extract", issue)
    return Example(split, issue, tokenizer.encode(issue.body), tokenizer.encode(target), new)


class CountTokens(beam.CombineFn):
    """{token: count} over all issues; each worker counts its issues locally, then the counts are summed."""

    def create_accumulator(self):
        return collections.Counter()

    def add_input(self, counts, example: Example):
        counts.update(example.body_tokens)  # what build_from_generator counts: inputs, then targets
        counts.update(example.title_tokens)
        return counts

    def merge_accumulators(self, accumulators):
        accumulators = iter(accumulators)
        total = next(accumulators)
        for counts in accumulators:
            total.update(counts)
        return total

    def extract_output(self, counts):
        return dict(counts)


def build_vocabulary(token_counts: dict, path: str, approx_vocab_size: int, workers: int) -> str:
    """The subword vocabulary, built by T2T's own SubwordTextEncoder code from the combined counts (probes run in
    parallel: see data/vocab.py), stored where Text2TextProblem looks for it."""
    start = time.time()
    log.info("building a ~%d subword vocabulary from %d distinct tokens", approx_vocab_size, len(token_counts))
    encoder = vocab.build_subword_vocabulary(token_counts, approx_vocab_size, workers)
    with tempfile.TemporaryDirectory() as tmp:  # T2T writes through TF's file system: locally, then copied
        encoder.store_to_file(os.path.join(tmp, "vocab"))
        with open(os.path.join(tmp, "vocab"), "rb") as local, FileSystems.create(path) as f:
            shutil.copyfileobj(local, f)
    log.info("vocabulary of %d subwords written to %s in %.1f s", encoder.vocab_size, path, time.time() - start)
    return path


class EncodeExamples(beam.DoFn):
    """Issue -> (split, serialized tf.train.Example) with int64 inputs (body) and targets (title), EOS-ended.

    Also counts vocabulary coverage: a token "fell back to character pieces" when the vocabulary could not cover
    it with multi-character subwords (a piece of one character in a longer token), and is "out of alphabet" when
    it has a character the vocabulary does not know at all (T2T escapes those as \\NNN; sequences)."""

    def __init__(self, new_weight: int = 1):
        self.new_weight = new_weight  # how many times a new issue's train example is written

    def setup(self):
        self._encoder = None
        self._path = None
        self._n = 0

    def _load(self, vocab_path: str):
        if self._path != vocab_path:
            from tensor2tensor.data_generators import text_encoder
            # T2T reads through TF's file system, which reaches no GCS stand-in: a local copy, read by Beam's
            with tempfile.TemporaryDirectory() as tmp:
                with FileSystems.open(vocab_path) as f, open(os.path.join(tmp, "vocab"), "wb") as local:
                    shutil.copyfileobj(f, local)
                self._encoder = text_encoder.SubwordTextEncoder(os.path.join(tmp, "vocab"))
            self._path = vocab_path
        return self._encoder

    def _encode(self, encoder, tokens: list) -> list[int]:
        """encoder.encode(text), from the text's tokens."""
        ids, fallback, outside = [], 0, 0
        strings = encoder.all_subtoken_strings
        for token in tokens:
            token_ids = encoder._token_to_subtoken_ids(token)  # exactly what encoder.encode does per token
            ids.extend(token_ids)
            if len(token) > 1 and any(len(strings[i].rstrip("_")) == 1 for i in token_ids):
                fallback += 1
            if any(c not in encoder._alphabet for c in token):
                outside += 1
        _count("vocab.tokens", len(tokens))
        _count("vocab.char_fallback_tokens", fallback)
        _count("vocab.out_of_alphabet_tokens", outside)
        return ids + [contract.EOS_ID]  # as T2T's text2text generators do

    def process(self, example: Example, vocab_path: str):
        import tensorflow as tf
        split, new = example.split, example.new
        encoder = self._load(vocab_path)
        inputs = self._encode(encoder, example.body_tokens)
        targets = self._encode(encoder, example.title_tokens)
        example = tf.train.Example(features=tf.train.Features(feature={
            contract.INPUTS_FEATURE: tf.train.Feature(int64_list=tf.train.Int64List(value=inputs)),
            contract.TARGETS_FEATURE: tf.train.Feature(int64_list=tf.train.Int64List(value=targets)),
        }))
        self._n += 1
        if self._n % PROGRESS_EVERY == 0:
            log.info("encoded %d examples in this worker", self._n)
        _count(f"written.{split}")
        # deterministic: map entries ("inputs", "targets") in key order. Without it their order follows the
        # protobuf runtime's hash table, which differed between the DirectRunner and the portable runner's workers
        # (same examples, different bytes).
        record = example.SerializeToString(deterministic=True)
        for _ in range(self.new_weight if new and split == "train" else 1):
            yield beam.pvalue.TaggedOutput(split, record)
        yield beam.pvalue.TaggedOutput(f"{split}_lengths", (len(inputs), len(targets)))


def eval_issue_json(example: Example) -> str:
    """An eval issue as a line of eval_issues.jsonl (and new_eval_issues.jsonl)."""
    return json.dumps({k: v for k, v in example.issue.to_dict().items()
                       if k in ("id", "url", "repo", "title", "body", "created_at")}, ensure_ascii=False)


# ---------------------------------------------------------------- the job

def read_and_clean(p: beam.Pipeline, args: argparse.Namespace, files: list[str], new: bool = False):
    """(valid issues keyed by content as (key, (new, issue)), [rejects]) of these files; new: --new_input's."""
    name = "New" if new else ""
    rows = (p
            | f"List{name}Files" >> beam.Create(files)
            | f"Spread{name}Files" >> beam.Reshuffle()
            | f"ReadAndParse{name}" >> beam.ParDo(ReadIssues(args.format, args.since, new)).with_outputs(
                "rejects", "skips", main="issues"))
    cleaned = rows.issues | f"CleanAndValidate{name}" >> beam.ParDo(
        CleanAndValidate(not args.keep_case, args.max_body_words)).with_outputs("rejects", main="valid")
    keyed = cleaned.valid | f"KeyByContent{name}" >> beam.Map(lambda i, new=new: (content_key(i), (new, i)))
    return keyed, [rows.rejects, cleaned.rejects]


def build_pipeline(p: beam.Pipeline, args: argparse.Namespace, files: list[str], new_files: list[str] = ()) -> None:
    out = args.output_dir
    keyed, rejects = read_and_clean(p, args, files)
    if new_files:
        new_keyed, new_rejects = read_and_clean(p, args, new_files, new=True)
        keyed, rejects = (keyed, new_keyed) | "OldAndNew" >> beam.Flatten(), rejects + new_rejects
    unique = (keyed  # (new, issue)
              | "GroupDuplicates" >> beam.GroupByKey()
              | "DropDuplicates" >> beam.Map(keep_first_of_duplicates))
    examples = unique | "SplitByIdHashAndTokenize" >> beam.Map(split_and_tokenize, args.eval_percent,
                                                                args.title_target, args.new_eval_percent)

    # Dead letters: every rejected row, one JSON object a line.
    (rejects
     | "AllRejects" >> beam.Flatten()
     | "RejectToJson" >> beam.Map(lambda r: json.dumps(r.to_dict(), ensure_ascii=False))
     | "WriteDeadLetters" >> beam.io.WriteToText(os.path.join(out, "dead_letter"), file_name_suffix=".jsonl",
                                                 num_shards=1, shard_name_template=""))

    vocab_path = os.path.join(out, vocab_filename(args.approx_vocab_size))
    if args.vocab_file:
        vocab = p | "ExistingVocabulary" >> beam.Create([vocab_path])
    else:
        vocab = (examples
                 | "TrainOnly" >> beam.Filter(lambda e: e.split == "train")
                 | "CountTokens" >> beam.CombineGlobally(CountTokens())
                 | "BuildVocabulary" >> beam.Map(build_vocabulary, vocab_path, args.approx_vocab_size,
                                                 args.vocab_workers))

    encoded = examples | "Encode" >> beam.ParDo(EncodeExamples(args.new_weight),
                                                 beam.pvalue.AsSingleton(vocab)).with_outputs(
        "train", "eval", "train_lengths", "eval_lengths")
    for split, t2t_split, shards in (("train", "train", args.train_shards), ("eval", "dev", args.eval_shards)):
        encoded[split] | f"Write{split.title()}Records" >> beam.io.WriteToTFRecord(
            os.path.join(out, contract.split_prefix(t2t_split)), num_shards=shards, shard_name_template="-SSSSS-of-NNNNN")

    # The eval issues as text: the old inputs' eval split (the general dev set), and the new issues' held-out part.
    for new, name, filename in ((False, "", contract.EVAL_ISSUES_FILE), (True, "New", contract.NEW_EVAL_ISSUES_FILE)):
        if new and not new_files:
            continue
        (examples
         | f"{name}EvalOnly" >> beam.Filter(lambda e, new=new: e.split == "eval" and e.new == new)
         | f"{name}EvalToJson" >> beam.Map(eval_issue_json)
         | f"Write{name}EvalIssues" >> beam.io.WriteToText(os.path.join(out, filename), num_shards=1,
                                                           shard_name_template=""))

    # Length distributions (words after cleaning; subword ids after encoding), for the report.
    def quantiles(pcoll, label):
        return (pcoll | f"{label}Quantiles" >> beam.transforms.stats.ApproximateQuantiles.Globally(11)
                | f"{label}Named" >> beam.Map(lambda q, name=label: (name, q)))
    lengths = [
        quantiles(unique | "BodyWords" >> beam.Map(lambda n_i: len(n_i[1].body.split())), "body_words"),
        quantiles(unique | "TitleWords" >> beam.Map(lambda n_i: len(n_i[1].title.split())), "title_words"),
    ]
    for split in ("train", "eval"):
        ids = encoded[f"{split}_lengths"]
        lengths.append(quantiles(ids | f"{split}Inputs" >> beam.Map(lambda t: t[0]), f"{split}_input_ids"))
        lengths.append(quantiles(ids | f"{split}Targets" >> beam.Map(lambda t: t[1]), f"{split}_target_ids"))
    (lengths
     | "AllLengths" >> beam.Flatten()
     | "LengthsToJson" >> beam.Map(json.dumps)
     | "WriteLengths" >> beam.io.WriteToText(os.path.join(out, "stats_lengths"), file_name_suffix=".jsonl",
                                             num_shards=1, shard_name_template=""))


# The runner when none is given: the in-memory runner Beam's DirectRunner runs batch jobs on. The DirectRunner
# itself (Beam 2.77) first tries the Prism runner, downloading its binary from GitHub on every run where GitHub
# can be reached, so the same command ran on another runner depending on the network, and it left an empty
# /tmp/beam-temp* dir each run.
LOCAL_RUNNER = "FnApiRunner"

NEW_WEIGHT = 2  # --new_weight's default: each new train example written twice
NEW_EVAL_PERCENT = 20.0  # --new_eval_percent's default


def parse_args(argv: Optional[list[str]] = None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="python -m data.preprocess", description=__doc__.split("\n")[0],
                                     epilog="Other options go to Beam unchanged (e.g. --runner DataflowRunner).")
    parser.add_argument("--input", action="append", required=True,
                        help="file or glob (local, gs://, any fsspec path); repeat for more")
    parser.add_argument("--new_input", action="append", default=[],
                        help="a retrain's new issues: file or glob (any format --input reads); repeat for more")
    parser.add_argument("--new_weight", type=int, default=NEW_WEIGHT,
                        help="with --new_input: each new train example is written this many times (default "
                             f"{NEW_WEIGHT})")
    parser.add_argument("--new_eval_percent", type=float, default=NEW_EVAL_PERCENT,
                        help="with --new_input: the share of the new issues held out (by the id hash), written to "
                             f"{contract.NEW_EVAL_ISSUES_FILE} and the dev records (default {NEW_EVAL_PERCENT:g})")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--format", default="auto", choices=readers.FORMATS)
    parser.add_argument("--since", help="keep only issues created on or after this date (YYYY-MM-DD)")
    parser.add_argument("--vocab_file", help="encode with this existing vocabulary instead of building one "
                                             "(required to continue training a model)")
    parser.add_argument("--approx_vocab_size", type=int, default=contract.APPROX_VOCAB_SIZE)
    parser.add_argument("--vocab_workers", type=int, default=0,
                        help="processes building vocabulary candidates side by side (0: one per core)")
    parser.add_argument("--eval_percent", type=float, default=10.0)
    parser.add_argument("--train_shards", type=int, default=10)
    parser.add_argument("--eval_shards", type=int, default=1)
    parser.add_argument("--max_body_words", type=int, default=clean.MAX_BODY_WORDS)
    parser.add_argument("--keep_case", action="store_true", help="do not lowercase")
    parser.add_argument("--title_target", choices=TITLE_TARGETS, default="title",
                        help="train targets: the titles, or the body span that best matches each (extract)")
    parser.add_argument("--workers", type=int, default=0,
                        help="local runner worker processes (0: Beam's default, in-process)")
    args, beam_args = parser.parse_known_args(argv)
    if args.since:
        try:
            args.since = readers.normalize_date(args.since)
        except ValueError as e:
            parser.error(f"--since: {e}")
    if not 0 <= args.eval_percent < 100:
        parser.error("--eval_percent must be in [0, 100)")
    if not 0 <= args.new_eval_percent < 100:
        parser.error("--new_eval_percent must be in [0, 100)")
    if args.new_weight < 1:
        parser.error("--new_weight must be at least 1")
    if args.workers:
        beam_args += ["--direct_running_mode=multi_processing", f"--direct_num_workers={args.workers}"]
    if not any(a == "--runner" or a.startswith("--runner=") for a in beam_args):
        beam_args = [f"--runner={LOCAL_RUNNER}"] + beam_args
    return args, beam_args


def _prepare_output(args: argparse.Namespace) -> None:
    """Removes what an earlier run left (a different shard count would otherwise leave stale shards that T2T's
    glob picks up) and puts an existing vocabulary in place. The vocabulary is read before anything is removed:
    --vocab_file may well be the one an earlier run left in this very directory."""
    vocab = None
    if args.vocab_file:
        if not FileSystems.exists(args.vocab_file):
            raise FileNotFoundError(f"--vocab_file {args.vocab_file} does not exist")
        with FileSystems.open(args.vocab_file) as f:
            vocab = f.read()
    if not FileSystems.exists(args.output_dir):
        FileSystems.mkdirs(args.output_dir)
    stale = [m.path for pattern in (f"{contract.PROBLEM_NAME}-*", "vocab.*", "dead_letter*", "eval_issues*",
                                    contract.NEW_EVAL_ISSUES_FILE, "stats*")
             for r in FileSystems.match([os.path.join(args.output_dir, pattern)]) for m in r.metadata_list]
    if stale:
        FileSystems.delete(stale)
    if vocab is not None:
        with FileSystems.create(os.path.join(args.output_dir, vocab_filename(args.approx_vocab_size))) as f:
            f.write(vocab)


def _remove_beam_temp_dirs(output_dir: str) -> None:
    pattern = os.path.join(output_dir, "beam-temp-*")
    if "://" not in output_dir:
        for path in glob.glob(pattern):
            shutil.rmtree(path, ignore_errors=True)
        return
    temp = [m.path for r in FileSystems.match([pattern + "/*"]) for m in r.metadata_list]  # object stores: files
    if temp:
        FileSystems.delete(temp)


def run(argv: Optional[list[str]] = None) -> dict:
    """Runs the job and returns its statistics (also written to stats.json / stats.txt)."""
    args, beam_args = parse_args(argv)
    files = readers.expand_inputs(args.input)
    new_files = readers.expand_inputs(args.new_input)
    formats = {f: (readers.detect_format(f) if args.format == "auto" else args.format) for f in files + new_files}
    for f, fmt in formats.items():
        log.info("%s %s (%s)", "new input" if f in new_files else "input", f, fmt)
    _prepare_output(args)
    start = time.time()
    options = PipelineOptions(beam_args, save_main_session=False)
    try:
        with beam.Pipeline(options=options) as p:
            build_pipeline(p, args, files, new_files)
    except Exception:
        _remove_beam_temp_dirs(args.output_dir)  # a failed write leaves them; the next run would not clean them
        raise
    result = p.result
    stats = report.collect(result, args, formats, time.time() - start, new_files)
    report.write(stats, args.output_dir)
    return stats


def main(argv: Optional[list[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format=project.LOG_FORMAT, force=True)
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    try:
        stats = run(argv)
    except (readers.FormatError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    counts = stats["steps"]
    log.info("%d rows read, %d valid, %d duplicates dropped; examples written: train %d, eval %d", counts["read_rows"],
             counts["valid"], counts["duplicates"], counts["train"], counts["eval"])
    print(report.summary(stats))
    return 0


if __name__ == "__main__":
    # Run as data.preprocess, not __main__: the local runner's worker processes (--workers) unpickle Example and
    # the DoFns by their module's name, which __main__ is not in a worker.
    from data.preprocess import main as _main
    sys.exit(_main())
