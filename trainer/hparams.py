"""The project's hyper-parameter sets (registered with T2T; any T2T set name works too).

- transformer_ghsumm_tiny: 2+2 layers, hidden 128: trains usefully on 2 CPU cores (the local default).
- transformer_ghsumm_small: 2+2 layers, hidden 256, the body's first 64 subwords, a lower learning rate.
- transformer_ghsumm_copy: transformer_ghsumm_small with a copy mechanism (trainer/copy_model.py), trained on
  extract targets (an earlier warm start).
- transformer_ghsumm_write: the copy model on the real titles, the body's first 128 subwords, its decoding rules,
  a sparse training loss and shared dropout masks: the shipped warm start's set (data/warm_start/).
- transformer_ghsumm_write_big: transformer_ghsumm_write with 3+3 layers of hidden 384 (tried: no better on the dev sets).
- transformer_prepend, transformer_base: the reference's sets, for GPUs (T2T's own, unchanged).
Any override passes through as T2T's comma-separated --hparams string, e.g. "batch_size=1024,max_length=128".
Runs in the t2t environment.
"""
from trainer import compat

compat.apply()

# pylint: disable=wrong-import-position
from tensor2tensor.models import transformer  # noqa: E402
from tensor2tensor.utils import registry  # noqa: E402

from trainer import continuation, copy_model  # noqa: E402  (copy_model registers transformer_copy)

DEFAULT_HPARAMS_SET = "transformer_ghsumm_tiny"
DEFAULT_MODEL = "transformer"
MODEL_HPARAM = "ghsumm_model"  # a set that trains another registered T2T model than DEFAULT_MODEL names it here
TITLE_TARGET_HPARAM = "ghsumm_title_target"  # what the set learns to write: the titles (default) or "extract"
DECODE_ALPHA_HPARAM = "ghsumm_decode_alpha"  # the beam search's length penalty its exports decode with
DEFAULT_DECODE_ALPHA = 0.6  # T2T's default
GPU_HPARAMS_SETS = ("transformer_prepend", "transformer_base")


def model_name(hparams) -> str:
    """The registered T2T model a hyper-parameter set trains (the Transformer unless the set says otherwise)."""
    return hparams.get(MODEL_HPARAM) or DEFAULT_MODEL


def title_target(hparams) -> str:
    """What the set's train targets are (`data.preprocess --title_target`): "title", or "extract" (the body span
    that best matches the title)."""
    return hparams.get(TITLE_TARGET_HPARAM) or "title"


def decode_alpha(hparams) -> float:
    """The length penalty (T2T's alpha) the set's exports decode with: DEFAULT_DECODE_ALPHA unless it says."""
    return float(hparams.get(DECODE_ALPHA_HPARAM) or DEFAULT_DECODE_ALPHA)


def decode_rules(hparams, **given) -> dict:
    """The copy model's decoding rules (trainer/copy_model.py, DECODE_RULES): min_length, the fewest subwords a
    title has; no_repeat_ngram, whether a subword trigram may be written twice (3: not); max_length, the most
    subwords a title has; no_repeat_word, the fewest letters of a word that may not be written twice;
    no_tag_start, whether a title may not begin with a bracketed tag (1: it may not); mbr_samples, how many
    sampled titles the beam's titles are judged against (minimum Bayes risk; 0: the top beam). A value
    given (not None) is set in hparams; otherwise the set's (0: no rule). Returns all of them."""
    unknown = set(given) - set(copy_model.DECODE_RULES)
    if unknown:
        raise ValueError("no decoding rule %s (the rules: %s)" % (", ".join(sorted(unknown)),
                                                                  ", ".join(copy_model.DECODE_RULES)))
    rules = {}
    for key, name in copy_model.DECODE_RULES.items():
        value = given.get(key)
        if value is not None:
            set_hparam(hparams, name, int(value))
        rules[key] = int(hparams.get(name) or 0)
    return rules


def set_hparam(hparams, name: str, value) -> None:
    """hparams.name = value, whether or not the set has name."""
    if name in hparams.values():
        hparams.set_hparam(name, value)
    else:
        hparams.add_hparam(name, value)


@registry.register_hparams
def transformer_ghsumm_tiny():
    hparams = transformer.transformer_tiny()
    # Bodies are cut to 300 words by preprocessing (~400 subwords at the 90th percentile is far less).
    hparams.max_length = 256
    hparams.batch_size = 2048
    # QUALITY-NOTES.md: T2T's default peak learning rate collapses to stock titles on this data; a four times
    # lower constant responds to the input far more.
    hparams.learning_rate_constant = 0.5
    hparams.learning_rate_warmup_steps = 1000
    continuation.add_hparams(hparams)  # how a run that continues a checkpoint trains (trainer/continuation.py)
    return hparams


@registry.register_hparams
def transformer_ghsumm_small():
    """2+2 layers, hidden 256, sized for hours of training on 2 CPU cores on all the issue data in
    ../shared/data. The lessons of QUALITY-NOTES.md are built in:
    - only the first 64 subwords of the body are read (max_input_seq_length; the title's words are mostly at the
      start, and short inputs align sooner). T2T applies the cut in training AND in the exported serving graph,
      so what the server reads is what the model learned from;
    - the learning rate constant is a quarter of T2T's default (0.5 instead of 2.0): T2T's peak rate collapses
      to a handful of stock titles on this data.
    """
    hparams = transformer.transformer_small()
    hparams.max_input_seq_length = 64
    hparams.max_target_seq_length = 24
    hparams.max_length = 96
    hparams.batch_size = 4096
    hparams.learning_rate_constant = 0.5
    hparams.learning_rate_warmup_steps = 1000
    hparams.layer_prepostprocess_dropout = 0.2
    continuation.add_hparams(hparams)  # how a run that continues a checkpoint trains (trainer/continuation.py)
    return hparams


@registry.register_hparams
def transformer_ghsumm_copy():
    """The shipped warm-start model's set (data/warm_start/): transformer_ghsumm_small's sizes and schedule, a
    copy mechanism (trainer/copy_model.py) so that titles can take the body's own words, as most titles do, and
    trained on the title-sized body span that best matches each title (docs/model-history.md says why)."""
    hparams = transformer_ghsumm_small()
    hparams.add_hparam(MODEL_HPARAM, copy_model.MODEL_NAME)
    hparams.add_hparam(TITLE_TARGET_HPARAM, "extract")
    return hparams


@registry.register_hparams
def transformer_ghsumm_write():
    """A model that writes titles (issue 12): transformer_ghsumm_copy's model and sizes, trained on the real titles
    of issues and of pull requests and commits (data/warm_start/README.md), reading the body's first 128 subwords
    (the title's words are 12% more often within them than within 64; 256 adds 4% more at twice the cost)."""
    hparams = transformer_ghsumm_small()
    hparams.max_input_seq_length = 128
    hparams.max_length = 160
    hparams.layer_prepostprocess_dropout = 0.1
    hparams.add_hparam(MODEL_HPARAM, copy_model.MODEL_NAME)
    # Decoding (exports): titles of at least 9 subwords and no subword trigram twice. At step 9500 on the dev set:
    # ROUGE-L 21.76 -> 22.61, 3.3 -> 5.5 words, verbatim body spans 50% -> 20% (docs/model-history.md).
    hparams.add_hparam(copy_model.MIN_LENGTH_HPARAM, 9)
    hparams.add_hparam(copy_model.NO_REPEAT_HPARAM, 3)
    # and at most the longest title it was trained on (24 subwords; docs/model-history.md: a body in a script
    # spelled letter by letter ran on for 150 subwords, and a batch decoded until it ended)
    hparams.add_hparam(copy_model.MAX_LENGTH_HPARAM, hparams.max_target_seq_length)
    # and no word of 4 letters or more twice ("add a group for a group"): step 14000 on both dev sets, 11% of
    # titles repeated one (real titles: 4%), now 4%; ROUGE-L 23.00 -> 23.31 (3 letters: 23.13; 5: 23.35, and 5%)
    hparams.add_hparam(copy_model.NO_REPEAT_WORD_HPARAM, 4)
    # and no "[devtools bug]" first (nlbse24's React template, before 1.3% of the dev sets' titles, none React's)
    hparams.add_hparam(copy_model.NO_TAG_START_HPARAM, 1)
    # and of the beam's 4 titles, the one that shares most words with 8 titles sampled from the model (minimum Bayes
    # risk): step 14000 on both dev sets, ROUGE-L 23.29 -> 24.50 (+1.21 +- 0.35, paired), dev2 21.90 -> 23.07
    hparams.add_hparam(copy_model.MBR_SAMPLES_HPARAM, 8)
    # Training speed (docs/model-history.md, "Training speed: a sparse loss and shared dropout masks"): the
    # loss from log p of the true subword and the sum of log p (copy_model.copy_log_likelihood), not from the
    # vocabulary-sized mixture, and dropout masks shared along the length (attention's along batch and heads), as
    # T2T's TPU sets do: a tenth of the random numbers. 1.2x the steps/s on the issues; fine-tuned 1000 steps from
    # step 14000 beside the set without them, the same dev ROUGE-L (+0.06 +- 0.38 and +0.09 +- 0.37, paired by issue)
    hparams.add_hparam(copy_model.SPARSE_LOSS_HPARAM, 1)
    hparams.attention_dropout_broadcast_dims = "0,1"  # batch, heads
    hparams.relu_dropout_broadcast_dims = "1"  # length
    hparams.layer_prepostprocess_dropout_broadcast_dims = "1"  # length
    return hparams


@registry.register_hparams
def transformer_ghsumm_write_big():
    """transformer_ghsumm_write with 3+3 layers of hidden 384 (filter 1536, 6 heads): 2.6 times the weights of
    the body. On a CPU with bfloat16 matmuls (trainer/train.py) the larger layers cost less than their size: much of
    a step is the vocabulary-sized softmax and element-wise work, which do not grow with them."""
    hparams = transformer_ghsumm_write()
    hparams.num_hidden_layers = 3
    hparams.hidden_size = 384
    hparams.filter_size = 1536
    hparams.num_heads = 6
    return hparams
