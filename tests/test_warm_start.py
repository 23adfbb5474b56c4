"""The warm start's selection (trainer/warm_start.py): which candidate ships, and how an average is shipped."""
from trainer import warm_start


def summary(rouge_l, most_common=0.002):
    return {"rougeL": rouge_l, "verbatim_span_share": 0.4, "dangling_share": 0.0, "most_common_share": most_common}


def test_the_best_candidate_that_does_not_collapse_is_chosen_an_average_included():
    scores = {9000: summary(21.5), 10000: summary(22.4, most_common=0.03), "avg 7000-10000": summary(22.0)}
    assert warm_start.choose(scores) == "avg 7000-10000"
    scores["avg 7000-10000"] = summary(21.0)
    assert warm_start.choose(scores) == 9000


def test_when_every_candidate_collapses_the_best_is_still_chosen():
    assert warm_start.choose({1: summary(10.0, 0.2), 2: summary(12.0, 0.3)}) == 2


def test_a_shipped_slim_checkpoint_replaces_the_older_weights_and_keeps_the_rest(tmp_path):
    slim, out = tmp_path / "slim", tmp_path / "out"
    slim.mkdir(), out.mkdir()
    for name in ("model.ckpt-12000.index", "model.ckpt-12000.data-00000-of-00001", "checkpoint"):
        (slim / name).write_text(name)
    for name in ("model.ckpt-9500.index", "model.ckpt-9500.data-00000-of-00001", "README.md"):
        (out / name).write_text("old")
    warm_start.ship_slim(str(slim), str(out))
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "checkpoint", "model.ckpt-12000.data-00000-of-00001",
                                                   "model.ckpt-12000.index"]
