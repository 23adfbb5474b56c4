"""The trainer on the bundled sample, for real (t2t environment, as subprocesses): train -> killed -> resumed ->
exported -> loaded and decoded in the app environment; plus the warm start's checks."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, T2T_PYTHON, check_ok, run_t2t

VOCAB = "vocab.github_issue_summarization.8192.subwords"
TINY = ["--hparams", "batch_size=512,max_length=64"]


def steps_in(model_dir):
    return sorted(int(n[len("model.ckpt-"):-len(".index")]) for n in os.listdir(model_dir)
                  if n.startswith("model.ckpt-") and n.endswith(".index"))


@pytest.fixture(scope="module")
def trained(preprocessed_sample, tmp_path_factory):
    """A training run killed (SIGKILL) once it has checkpointed, then resumed to 10 steps past its newest
    checkpoint (asking for a GPU this machine does not have, and for bfloat16 matmuls). Returns (model_dir, step at the kill, output of the resumed run)."""
    model = tmp_path_factory.mktemp("trainer") / "model"
    # its temporary files (TF's autograph modules, removed at a normal exit) go to the test's dir, not /tmp
    temp = model.parent / "tmp"
    temp.mkdir()
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", TMPDIR=str(temp))
    log = open(model.parent / "killed.log", "w")
    proc = subprocess.Popen([T2T_PYTHON, "-m", "trainer", "train", "--data_dir", str(preprocessed_sample),
                             "--model_dir", str(model), "--train_steps", "100000", "--save_checkpoints_steps", "5",
                             "--progress_secs", "1"] + TINY, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        if model.exists() and any(s >= 10 for s in steps_in(model)):
            break
        time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    log.close()
    killed_at = max(steps_in(model))
    assert killed_at >= 10, (model.parent / "killed.log").read_text()[-3000:]
    resumed = check_ok(run_t2t(["-m", "trainer", "train", "--data_dir", preprocessed_sample, "--model_dir", model,
                                "--train_steps", killed_at + 10, "--save_checkpoints_steps", "5",
                                "--progress_secs", "0.5", "--gpus", "1", "--bfloat16", "on"] + TINY))
    return model, killed_at, resumed.stdout


def test_a_killed_run_resumes_from_its_newest_checkpoint_and_train_steps_is_the_total(trained):
    model, killed_at, out = trained
    assert max(steps_in(model)) == killed_at + 10
    assert f"training from step {killed_at + 1} to {killed_at + 10}" in out, out[-3000:]
    assert f"trained {killed_at} -> {killed_at + 10} steps" in out


def test_training_shows_progress_and_leaves_summaries_and_a_loss_curve(trained):
    model, _, out = trained
    assert "steps/s" in out and "loss curve:" in out
    assert any(n.startswith("events.out.tfevents") for n in os.listdir(model))
    assert (model / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    card = json.loads((model / "ghsumm_model.json").read_text())
    assert card["hparams_set"] == "transformer_ghsumm_tiny" and (model / VOCAB).exists()


def test_train_steps_already_reached_trains_nothing(trained, preprocessed_sample):
    model, killed_at, _ = trained
    out = check_ok(run_t2t(["-m", "trainer", "train", "--data_dir", preprocessed_sample, "--model_dir", model,
                            "--train_steps", killed_at] + TINY)).stdout
    assert "nothing to train" in out and max(steps_in(model)) == killed_at + 10


def test_gpus_requested_on_a_machine_without_one_trains_on_the_cpu(trained):
    out = trained[2]  # the resumed run asked for --gpus 1
    assert "no GPU: training on the CPU" in out and "devices: CPU only" in out


def test_bfloat16_matmuls_train_and_the_checkpoints_stay_float32(trained):
    model, killed_at, out = trained  # the resumed run asked for --bfloat16 on
    assert "matmuls in bfloat16 (--bfloat16 on" in out, out[-3000:]
    import tensorflow as tf
    dtypes = tf.train.load_checkpoint(str(model / f"model.ckpt-{killed_at + 10}")).get_variable_to_dtype_map()
    assert {dtype.name for name, dtype in dtypes.items() if "/body/" in name} == {"float32"}


def test_bfloat16_matmuls_are_chosen_by_the_cpus_flags(tmp_path):
    from data import project
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16 amx_tile amx_bf16\n\n"
                       "processor\t: 1\nflags\t\t: fpu sse avx2\n")
    assert project.bfloat16_cpu_flags(str(cpuinfo)) == ["amx_bf16", "avx512_bf16"]
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 fma\n")  # this project's AMD EPYC of 2026-12-05
    assert project.bfloat16_cpu_flags(str(cpuinfo)) == []
    assert project.bfloat16_cpu_flags(str(tmp_path / "absent")) == []


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    model, killed_at, _ = trained
    base = tmp_path_factory.mktemp("serving") / "ghsumm"
    out = check_ok(run_t2t(["-m", "trainer", "export", "--model_dir", model, "--model_base_path", base])).stdout
    return base, killed_at + 10, out


def test_export_writes_a_numbered_version_named_by_the_global_step(exported):
    base, step, _ = exported
    assert os.listdir(base) == [str(step)]  # no temporary directory left beside it
    version = base / str(step)
    assert (version / "saved_model.pb").exists() and (version / "variables").is_dir()
    assert (version / "assets.extra" / VOCAB).exists()
    assert json.loads((version / "assets.extra" / "ghsumm_model.json").read_text())["version"] == step


def test_exporting_the_same_checkpoint_again_changes_nothing(exported, trained):
    base, step, _ = exported
    model = trained[0]
    before = os.stat(base / str(step) / "saved_model.pb").st_mtime_ns
    out = check_ok(run_t2t(["-m", "trainer", "export", "--model_dir", model, "--model_base_path", base])).stdout
    assert "already exported" in out and os.stat(base / str(step) / "saved_model.pb").st_mtime_ns == before


def test_the_saved_model_decodes_an_issue_in_the_app_environment(exported, sample_rows):
    import tensorflow as tf
    from tensor2tensor.data_generators import text_encoder
    base, step, _ = exported
    version = base / str(step)
    encoder = text_encoder.SubwordTextEncoder(str(version / "assets.extra" / VOCAB))
    predict = tf.saved_model.load(str(version)).signatures["serving_default"]
    ids = encoder.encode(sample_rows[0]["body"])[:64] + [text_encoder.EOS_ID]
    example = tf.train.Example(features=tf.train.Features(feature={
        "inputs": tf.train.Feature(int64_list=tf.train.Int64List(value=ids))}))
    out = predict(tf.constant([example.SerializeToString()]))
    ids = out["outputs"].numpy()[0].tolist()
    assert len(ids) > 0 and out["scores"].numpy().shape == (1,)
    assert isinstance(encoder.decode([i for i in ids if i > 1]), str)


# ---------------------------------------------------------------- warm start: copy_checkpoint

def test_copy_checkpoint_starts_a_new_model_dir_from_the_newest_step(trained, preprocessed_sample, tmp_path):
    model, killed_at, _ = trained
    target = tmp_path / "warm"
    out = check_ok(run_t2t(["-m", "trainer", "copy_checkpoint", "--checkpoint_dir", model, "--model_dir", target,
                            "--data_dir", preprocessed_sample] + TINY)).stdout
    assert f"starts from step {killed_at + 10}" in out
    assert steps_in(target) == [killed_at + 10] and (target / VOCAB).exists()
    again = check_ok(run_t2t(["-m", "trainer", "copy_checkpoint", "--checkpoint_dir", model, "--model_dir", target,
                              "--data_dir", preprocessed_sample] + TINY)).stdout
    assert "not copying" in again


def test_a_slim_checkpoint_is_a_third_of_the_size_and_training_continues_from_it(trained, preprocessed_sample,
                                                                                 tmp_path):
    """The shipped warm start (data/warm_start/) is slim: no optimizer slots. copy_checkpoint restores them as
    zeros, and T2T trains on from the copied step, warming its learning rate up again from a fraction of the set's."""
    model, killed_at, _ = trained
    step = killed_at + 10
    slim, target = tmp_path / "slim", tmp_path / "warm"
    check_ok(run_t2t(["-m", "trainer", "slim_checkpoint", "--model_dir", model, "--out", slim]))

    def size(d, s):
        return sum(os.path.getsize(d / n) for n in os.listdir(d) if n.startswith(f"model.ckpt-{s}."))
    assert size(slim, step) < 0.4 * size(model, step)
    dropped = json.loads((slim / "slim_checkpoint.json").read_text())["dropped_slots"]
    assert dropped and all(n.endswith(("/m", "/v")) for n in dropped)
    assert (slim / VOCAB).read_bytes() == (model / VOCAB).read_bytes()

    out = check_ok(run_t2t(["-m", "trainer", "copy_checkpoint", "--checkpoint_dir", slim, "--model_dir", target,
                            "--data_dir", preprocessed_sample] + TINY)).stdout
    assert f"starts from step {step}" in out
    assert json.loads((target / "continuation.json").read_text())["start_step"] == step
    out = check_ok(run_t2t(["-m", "trainer", "train", "--data_dir", preprocessed_sample, "--model_dir", target,
                            "--train_steps", step + 4, "--progress_secs", "0.5"] + TINY)).stdout
    assert f"trained {step} -> {step + 4} steps" in out, out[-3000:]
    assert f"continuing step {step}" in out, out[-3000:]

    # It starts gently (trainer/continuation.py): the first update's learning rate is the set's times the
    # continuation factor (scale x 1/warm-up x the decay's share left), and the dev loss does not rise.
    first, rate = learning_rates(target)[0]
    assert first == step + 1
    base = 0.5 * 128 ** -0.5 * min(1.0, first / 1000) * max(first, 1000) ** -0.5  # transformer_ghsumm_tiny's
    assert rate == pytest.approx(base * 0.2 * (1 / 50) * (3 / 4), rel=1e-3)
    losses = json.loads(check_ok(run_t2t(["-m", "trainer", "dev_loss", "--data_dir", preprocessed_sample,
                                          "--model_dir", target, "--steps", f"{step},{step + 4}"]
                                         + TINY)).stdout.strip().splitlines()[-1])
    assert losses[str(step + 4)] <= losses[str(step)] + 1e-3, losses


def learning_rates(model_dir):
    """(step, learning rate) from a model dir's training summaries, in step order."""
    code = ("import glob, json, sys, tensorflow as tf\n"
            "rates = [(e.step, v.simple_value) for p in glob.glob(sys.argv[1] + '/events.out.tfevents.*')\n"
            "         for e in tf.compat.v1.train.summary_iterator(p) for v in e.summary.value\n"
            "         if v.tag == 'learning_rate']\n"
            "print(json.dumps(sorted(rates)))\n")
    out = subprocess.run([sys.executable, "-c", code, str(model_dir)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_checkpoints_averaged_are_a_slim_checkpoint_of_their_mean_weights(trained, preprocessed_sample, tmp_path):
    """The warm start scores the mean of a run's last checkpoints too: the weights are the element-wise mean, the
    global step the newest's, no optimizer slots (copy_checkpoint restores them), and training continues from it."""
    import numpy as np
    import tensorflow as tf
    model, killed_at, _ = trained
    first, last = steps_in(model)[-2:]
    avg = tmp_path / "avg"
    check_ok(run_t2t(["-m", "trainer", "average_checkpoints", "--model_dir", model, "--steps", f"{first},{last}",
                      "--out", avg]))
    assert steps_in(avg) == [last] and (avg / VOCAB).exists() and (avg / "slim_checkpoint.json").exists()
    mean, a, b = (tf.train.load_checkpoint(str(d / f"model.ckpt-{s}")) for d, s in
                  ((avg, last), (model, first), (model, last)))
    names = mean.get_variable_to_shape_map()
    assert not any(n.startswith("training/LazyAdam/") and n.endswith(("/m", "/v")) for n in names)
    assert mean.get_tensor("global_step") == last
    weights = [n for n in names if "body" in n and n.endswith("kernel")]
    assert weights
    for name in weights[:3]:  # stored as float16, as every slim checkpoint: 11 significant bits
        assert mean.get_tensor(name).dtype == np.float16
        np.testing.assert_allclose(mean.get_tensor(name), (a.get_tensor(name) + b.get_tensor(name)) / 2, rtol=1e-3,
                                   atol=1e-6)
    out = check_ok(run_t2t(["-m", "trainer", "copy_checkpoint", "--checkpoint_dir", avg, "--model_dir",
                            tmp_path / "warm", "--data_dir", preprocessed_sample] + TINY)).stdout
    assert f"starts from step {last}" in out


def test_a_checkpoint_with_another_vocabulary_is_refused_before_training(trained, preprocessed_sample, tmp_path):
    model = trained[0]
    other = tmp_path / "other_data"
    other.mkdir()
    (other / VOCAB).write_text("'<pad>_'\n'<EOS>_'\n'another_'\n")
    proc = run_t2t(["-m", "trainer", "copy_checkpoint", "--checkpoint_dir", model, "--model_dir", tmp_path / "m",
                    "--data_dir", other] + TINY)
    assert proc.returncode == 2 and "different vocabulary" in proc.stdout and "--vocab_file" in proc.stdout
    assert not (tmp_path / "m").exists()


def test_a_checkpoint_with_other_layer_sizes_is_refused_before_training(trained, preprocessed_sample, tmp_path):
    proc = run_t2t(["-m", "trainer", "train", "--data_dir", preprocessed_sample, "--model_dir", trained[0],
                    "--train_steps", 100000, "--hparams", "batch_size=512,max_length=64,hidden_size=64"])
    assert proc.returncode == 2 and "hidden_size: checkpoint 128, requested 64" in proc.stdout, proc.stdout[-2000:]


def test_a_missing_checkpoint_is_a_clear_error(preprocessed_sample, tmp_path):
    proc = run_t2t(["-m", "trainer", "copy_checkpoint", "--checkpoint_dir", tmp_path / "nothing", "--model_dir",
                    tmp_path / "m", "--data_dir", preprocessed_sample])
    assert proc.returncode == 2 and "no checkpoint in" in proc.stdout


# ---------------------------------------------------------------- the copy mechanism (trainer/copy_model.py)

@pytest.fixture(scope="module")
def copy_model_facts(preprocessed_sample):
    """What tests/t2t_copy_model_check.py finds about transformer_copy (random weights; one run for the module)."""
    out = check_ok(run_t2t([REPO / "tests" / "t2t_copy_model_check.py", preprocessed_sample])).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_the_copy_model_is_a_distribution_and_fast_decoding_agrees_with_the_training_graph(copy_model_facts):
    """tests/t2t_copy_model_check.py builds transformer_copy (random weights) and compares, for the title that fast
    cached greedy decoding writes, its score with the log-probability the teacher-forced training graph gives it."""
    facts = copy_model_facts
    assert abs(facts["prob_sums"][0] - 1) < 1e-4 and abs(facts["prob_sums"][1] - 1) < 1e-4
    assert facts["fast_scores"] == pytest.approx(facts["forced_scores"], abs=1e-3)
    assert facts["copy_only_outside_body"] < 1e-4  # a shut gate only copies the body's subwords
    assert facts["no_end"][0] < -1e8 and facts["no_end"][1] == 0  # no end of title before the minimum length
    long_outputs = facts["long_outputs"]
    assert all(len(ids) >= 6 and 1 not in ids[:6] for ids in long_outputs), long_outputs
    assert facts["no_repeat"] == [0] * 7 + [-1e9]  # after "5 6 7 5 6", a 7 would write "5 6 7" twice
    # a word of 4 letters or more is not written twice: ids 2 (group_) and 6 (value_) are such words; 5 (auto)
    # does not end a word, and id 8 is beyond the vocabulary's subwords
    assert facts["word_ends"] == [[True, False, True, True, True, False, True, True, False],
                                  [False, False, True, False, False, False, True, False, False]]
    banned = [[i for i, p in enumerate(row) if p < -1e8] for row in facts["no_repeat_word"]]
    assert banned == [[2], [], []]  # "add a group to" -> not group_; mid-word, or value_ not a whole word: allowed
    # a title does not begin with a subword that opens a tag: ids 2 ([_) and 3 ([), only at position 0
    assert facts["tag_openers"] == [False, False, True, True, False, False, False]
    assert facts["no_tag_first"] == [[2, 3], []]
    assert facts["long_first_opens_tag"] == [False] * len(long_outputs)
    written = [ids[:ids.index(1)] if 1 in ids else ids for ids in long_outputs]  # up to EOS
    trigrams = [[tuple(ids[i:i + 3]) for i in range(len(ids) - 2)] for ids in written]
    assert all(len(set(t)) == len(t) for t in trigrams), long_outputs
    # a maximum length of 3: beam search stops there (a minimum of 100 keeps the titles from ending before)
    capped = facts["capped_outputs"]
    assert all(len([i for i in ids if i != 0]) == 3 and 1 not in ids for ids in capped), capped


def test_minimum_bayes_risk_returns_the_beam_title_that_agrees_most_with_sampled_ones(copy_model_facts):
    """ghsumm_decode_mbr_samples: words are whole tokens (a word of two subwords is one word, punctuation and what
    follows EOS are none); the beam title sharing most words with the samples wins, the top beam on a tie; the
    outputs keep their shapes, each title is one of the beam's with its score, and a body gets the same title
    alone as in a batch (its samples depend on the body alone)."""
    facts = copy_model_facts
    assert facts["token_ends"] == [[False, False, True, True, True, False, True, True, False],
                                   [False, False, True, True, True, True, True, False, False]]
    assert facts["consensus"] == [1, 0, 1]
    batch, alone, beams = (facts["mbr"][k] for k in ("batch", "alone", "beams"))
    assert len(batch["outputs"]) == 3 and len(batch["scores"]) == 3 and not isinstance(batch["scores"][0], list)
    for title, score, candidates, candidate_scores in zip(batch["outputs"], batch["scores"], beams["outputs"],
                                                          beams["scores"]):
        position = [c[:len(title)] for c in candidates].index(title)
        assert score == pytest.approx(candidate_scores[position])
    def title(ids):
        return ids[:ids.index(1) + 1] if 1 in ids else ids
    assert title(alone["outputs"][0]) == title(batch["outputs"][1])
    # every beam title ranked as a candidate (the export's alternatives), the returned one first with its score
    assert "candidates" not in beams  # without minimum Bayes risk there are none
    for i, (candidates, scores) in enumerate(zip(batch["candidates"], batch["candidate_scores"])):
        assert title(candidates[0]) == title(batch["outputs"][i]) and scores[0] == pytest.approx(batch["scores"][i])
        assert sorted(map(title, candidates)) == sorted(map(title, beams["outputs"][i]))
        assert sorted(scores) == pytest.approx(sorted(beams["scores"][i]))


def test_the_sparse_training_loss_is_the_loss_of_the_whole_distribution(copy_model_facts):
    """ghsumm_sparse_loss (copy_model.copy_log_likelihood): one batch, the same weights, no dropout: the training loss
    and its gradient's norm are those of T2T's label-smoothed cross-entropy over mix_copy's log p (with random small
    weights no subword is so unlikely that mix_copy's floor of 1e-9 differs)."""
    figures = copy_model_facts["sparse_loss"]
    assert figures["sparse"] == pytest.approx(figures["dense"], rel=1e-5)


COPY_TINY = ["--hparams_set", "transformer_ghsumm_copy",
             "--hparams", "batch_size=512,max_length=64,hidden_size=128,filter_size=512,num_heads=4"]


def test_a_plain_transformer_checkpoint_warm_starts_a_copy_model_that_trains_and_exports(
        trained, preprocessed_sample, tmp_path, sample_rows):
    model, killed_at, _ = trained
    step, target = killed_at + 10, tmp_path / "copy"
    out = check_ok(run_t2t(["-m", "trainer", "copy_checkpoint", "--checkpoint_dir", model, "--model_dir", target,
                            "--data_dir", preprocessed_sample] + COPY_TINY)).stdout
    assert "converted to transformer_copy" in out and f"starts from step {step}" in out
    assert json.loads((target / "ghsumm_model.json").read_text())["model"] == "transformer_copy"
    out = check_ok(run_t2t(["-m", "trainer", "train", "--data_dir", preprocessed_sample, "--model_dir", target,
                            "--train_steps", step + 2, "--progress_secs", "0.5"] + COPY_TINY)).stdout
    assert f"trained {step} -> {step + 2} steps" in out, out[-3000:]
    base = tmp_path / "serving"
    check_ok(run_t2t(["-m", "trainer", "export", "--model_dir", target, "--model_base_path", base]))
    card = json.loads((base / str(step + 2) / "assets.extra" / "ghsumm_model.json").read_text())
    assert card["model"] == "transformer_copy"
    import tensorflow as tf
    predict = tf.saved_model.load(str(base / str(step + 2))).signatures["serving_default"]
    example = tf.train.Example(features=tf.train.Features(feature={
        "inputs": tf.train.Feature(int64_list=tf.train.Int64List(value=[5, 6, 7, 1]))}))
    assert predict(tf.constant([example.SerializeToString()]))["outputs"].numpy().shape[0] == 1


def test_a_second_model_travels_with_its_warm_start_and_its_beam_titles_join_the_candidates(
        trained, preprocessed_sample, tmp_path):
    """`trainer add_second_model` stores a copy model's weights (float16) in another model dir's second_model/;
    copy_checkpoint carries it along; an export that decodes by minimum Bayes risk builds its beam search beside
    the model's (its variables under second_model/) and says so in the model card. A second model with the first
    one's weights proposes the same titles, so no title changes; a continued run trains it too; a model of other sizes
    is refused."""
    import numpy as np
    import tensorflow as tf
    model, killed_at, _ = trained
    step, first = killed_at + 10, tmp_path / "first"
    check_ok(run_t2t(["-m", "trainer", "copy_checkpoint", "--checkpoint_dir", model, "--model_dir", first,
                      "--data_dir", preprocessed_sample] + COPY_TINY))
    check_ok(run_t2t(["-m", "trainer", "add_second_model", "--model_dir", first, "--out", first]))
    stored = tf.train.load_checkpoint(str(first / "second_model" / f"model.ckpt-{step}"))
    assert {d for d in stored.get_variable_to_dtype_map().values()} == {tf.float16}
    warm = tmp_path / "warm"  # a run continuing `first`: its second model comes along
    check_ok(run_t2t(["-m", "trainer", "copy_checkpoint", "--checkpoint_dir", first, "--model_dir", warm,
                      "--data_dir", preprocessed_sample] + COPY_TINY))
    assert (warm / "second_model" / "checkpoint").exists()

    def export(extra):
        base = tmp_path / ("serving" + "".join(extra))
        check_ok(run_t2t(["-m", "trainer", "export", "--model_dir", warm, "--model_base_path", base,
                          "--mbr_samples", "4"] + extra))
        version = base / str(step)
        names = [n for n, _ in tf.train.list_variables(str(version / "variables" / "variables"))]
        card = json.loads((version / "assets.extra" / "ghsumm_model.json").read_text())
        predict = tf.saved_model.load(str(version)).signatures["serving_default"]
        examples = [tf.train.Example(features=tf.train.Features(feature={"inputs": tf.train.Feature(
            int64_list=tf.train.Int64List(value=ids))})).SerializeToString() for ids in ([5, 6, 7, 1], [9, 8, 1])]
        out = predict(tf.constant(examples))
        return names, card, out["outputs"].numpy(), out["scores"].numpy()

    names, card, outputs, scores = export([])
    assert card["second_model"].endswith(f"second_model/model.ckpt-{step}")
    assert any(n.startswith("second_model/transformer_copy/body/") for n in names)
    alone_names, alone_card, alone_outputs, alone_scores = export(["--no_second_model"])
    assert alone_card["second_model"] is None and not any(n.startswith("second_model/") for n in alone_names)
    width = min(outputs.shape[1], alone_outputs.shape[1])
    assert (outputs[:, width:] == 0).all() and (alone_outputs[:, width:] == 0).all()
    np.testing.assert_array_equal(outputs[:, :width], alone_outputs[:, :width])
    np.testing.assert_allclose(scores, alone_scores, rtol=1e-5)

    # A continued run trains the second model too, as many steps, then stores it back (weights only, float16).
    fast = COPY_TINY[:-1] + [COPY_TINY[-1] + ",ghsumm_continue_warmup=1,ghsumm_continue_scale=10"]  # visible in float16
    out = check_ok(run_t2t(["-m", "trainer", "train", "--data_dir", preprocessed_sample, "--model_dir", warm,
                            "--train_steps", step + 2] + fast)).stdout
    assert "training the second model too" in out, out[-3000:]
    trained_second = tf.train.load_checkpoint(str(warm / "second_model" / f"model.ckpt-{step + 2}"))
    assert {d for d in trained_second.get_variable_to_dtype_map().values()} == {tf.float16}
    assert not (warm / "second_model_training").exists()
    assert any(not np.array_equal(stored.get_tensor(n), trained_second.get_tensor(n))
               for n in stored.get_variable_to_dtype_map())

    proc = run_t2t(["-m", "trainer", "add_second_model", "--model_dir", model, "--out", first])
    assert proc.returncode == 2 and "is not a transformer_copy" in proc.stdout, proc.stdout[-2000:]


def test_a_copy_model_checkpoint_is_refused_for_a_plain_transformer_run(trained, preprocessed_sample, tmp_path):
    model, killed_at, _ = trained
    target = tmp_path / "copy"
    check_ok(run_t2t(["-m", "trainer", "copy_checkpoint", "--checkpoint_dir", model, "--model_dir", target,
                      "--data_dir", preprocessed_sample] + COPY_TINY))
    proc = run_t2t(["-m", "trainer", "train", "--data_dir", preprocessed_sample, "--model_dir", target,
                    "--train_steps", killed_at + 20, "--hparams", "batch_size=512,max_length=64"])
    assert proc.returncode == 2 and "ghsumm_model: checkpoint 'transformer_copy', requested None" in proc.stdout, \
        proc.stdout[-2000:]


def test_make_quality_reports_a_checkpoint_and_exports_it_anew_each_time(trained, tmp_path):
    """`make quality` (trainer.quality) on a trained checkpoint: a table per eval set and its targets; a second run
    exports again instead of reusing the first one's export, which may decode by other rules (it did: the rule
    ghsumm_decode_no_repeat_word was not in the export `make quality` reported on)."""
    model, _, _ = trained
    command = [sys.executable, "-m", "trainer.quality", "--checkpoint_dir",
               model, "--out", tmp_path, "--max_issues", "3", "--nlbse", tmp_path / "no-nlbse.csv"]
    for _ in range(2):
        proc = subprocess.run([str(a) for a in command], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=900, env=dict(os.environ, PYTHONPATH=str(REPO)))
        assert proc.returncode == 1 and "quality targets missed: sample: ROUGE-L" in proc.stdout, proc.stdout[-3000:]
        assert "## sample: 3 eval issues" in proc.stdout and "nlbse24 skipped" in proc.stdout
        assert "exported step" in (tmp_path / "export.log").read_text()  # not "already exported"
    assert (tmp_path / "quality.md").read_text().startswith("# Shipped model quality")


def test_a_training_process_started_by_an_evaluating_one_has_onednn_on(monkeypatch):
    """quiet_tensorflow turns oneDNN off in the app environment's processes (TF announces it on stderr on AMX
    CPUs); a trainer they start turns it on again, while a user's own TF_ENABLE_ONEDNN_OPTS=0 stays."""
    from data import project
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    project.quiet_tensorflow()
    assert os.environ["TF_ENABLE_ONEDNN_OPTS"] == "0"
    project.fast_tensorflow_cpu()  # as in the child, which inherits the environment
    assert os.environ["TF_ENABLE_ONEDNN_OPTS"] == "1"
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    project.quiet_tensorflow()
    project.fast_tensorflow_cpu()
    assert os.environ["TF_ENABLE_ONEDNN_OPTS"] == "0"
