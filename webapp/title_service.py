"""The title model as the web app uses it: serving.client.TitleClient (REST or gRPC) with the run's vocabulary,
loaded on first use, and what the page needs besides the title: a confidence in words, up to MAX_ALTERNATIVES
other titles, the body's words the title took (to highlight), how much of the body the model read, the time
taken, and each failure as a WebError (model server down or timing out: 503).

The confidence: "likely good" when the model's score (the beam search's length-normalized log-probability of the
title) is at least GHSUMM_CONFIDENCE_MIN_SCORE, else "check it"; the raw score stays in the answer. The
alternatives are the next candidates minimum Bayes risk ranked (an export that decodes by it answers them:
trainer/export.py), each with its own score and confidence; an export without them gives none.

The vocabulary is GHSUMM_VOCAB when set; otherwise the one the export put beside the model, in the newest
numbered version of GHSUMM_MODEL_BASE_PATH that has assets.extra/vocab.*.subwords.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time

from data import contract
from data.clean import MAX_BODY_WORDS, clean_body, main_foreign_script
from data.titles import taken_words, word_spans
from serving.client import BadResponse, Codec, ModelNotFound, ServerDown, TitleClient, find_vocab
from webapp.config import Settings, without_credentials
from webapp.errors import WebError
from webapp.metrics import WebMetrics

# Longer bodies are cut to this many characters before cleaning: the model reads at most MAX_BODY_WORDS words
# and max_input_ids subwords, a few thousand characters, so this bounds the work without changing what it reads
# for any real issue (and if it does, the page says the body was cut).
MAX_BODY_CHARS = 100_000
MAX_ALTERNATIVES = 3
LIKELY_GOOD, CHECK_IT = "likely good", "check it"


def confidence(score: float, min_score: float) -> str:
    """The score in words: LIKELY_GOOD at or above min_score, else CHECK_IT."""
    return LIKELY_GOOD if score >= min_score else CHECK_IT


def taken(title: str, body: str) -> dict:
    """The body's words the title took (lowercase) and where they stand in the body ([start, end) offsets)."""
    words = taken_words(title, body)
    return {"body_words": words, "highlights": word_spans(words, body)}


def model_input_limit(vocab_path: str) -> int:
    """How many ids (EOS included) the model reads: the model card beside the vocabulary in assets.extra says
    how many body subwords the serving graph keeps (max_input_ids); without one, no limit."""
    try:
        with open(os.path.join(os.path.dirname(vocab_path), contract.MODEL_CARD_FILE), encoding="utf-8") as f:
            keeps = json.load(f).get("max_input_ids")
    except (OSError, ValueError, AttributeError):
        return sys.maxsize
    return keeps + 1 if isinstance(keeps, int) and keeps > 0 else sys.maxsize


class LazyCodec:
    """A serving.client.Codec that loads the vocabulary (and TensorFlow, ~7 s) on first use, not at start-up,
    so the page and /healthz answer at once; a failed load is retried on the next use."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.max_input_ids = settings.max_input_ids
        self._codec: Codec | None = None
        self._lock = threading.Lock()
        self.vocab_path: str | None = None

    def load(self) -> Codec:
        if self._codec is not None:
            return self._codec
        with self._lock:
            if self._codec is None:
                s = self.settings
                path = s.vocab or find_vocab(s.model_base_path)
                if not path:
                    raise WebError(503, "The model's vocabulary was not found: no version under %s has "
                                   "assets.extra/vocab.*.subwords; set GHSUMM_VOCAB or GHSUMM_MODEL_BASE_PATH."
                                   % s.model_base_path, "vocab_missing")
                try:
                    codec = Codec(path, min(s.max_input_ids, model_input_limit(path)))
                except Exception as e:  # noqa: BLE001  (missing or unreadable file: one message)
                    raise WebError(503, "The model's vocabulary %s cannot be read (%s)." % (path, type(e).__name__),
                                   "vocab_missing") from None
                self.vocab_path, self._codec, self.max_input_ids = path, codec, codec.max_input_ids
        return self._codec

    @property
    def loaded(self) -> bool:
        return self._codec is not None

    @property
    def encoder(self):
        return self.load().encoder

    def encode(self, body):
        return self.load().encode(body)

    def example(self, body):
        return self.load().example(body)

    def decode(self, ids):
        return self.load().decode(ids)


def call_outcome(e: Exception) -> str:
    """The metrics' name of a failed model server call."""
    return {ServerDown: "server_down", ModelNotFound: "model_not_found"}.get(type(e), "bad_response")


class TitleService:
    def __init__(self, settings: Settings, metrics: WebMetrics | None = None):
        self.settings = settings
        self.metrics = metrics or WebMetrics()
        self.codec = LazyCodec(settings)
        self.server = without_credentials(settings.model_server)
        self._local = threading.local()  # one client per thread: a requests.Session is not shared between threads

    def warm(self) -> None:
        """Load the vocabulary now (a failure is logged; the first request tries again and reports it)."""
        try:
            self.codec.load()
        except WebError as e:
            logging.getLogger("ghsumm.webapp").warning("%s", e.message)

    def _client(self, health: bool = False) -> TitleClient:
        key = "health" if health else "client"
        client = getattr(self._local, key, None)
        if client is None:
            s = self.settings
            client = TitleClient(s.model_server, s.protocol, s.model_name, codec=self.codec,
                                 timeout=min(3.0, s.model_timeout) if health else s.model_timeout,
                                 retries=0 if health else s.model_retries, backoff=0.2)
            setattr(self._local, key, client)
        return client

    def _error(self, e: Exception) -> WebError:
        s = self.settings
        if isinstance(e, ServerDown):
            return WebError(503, "The model server (%s) is down or not answering in time, so no title can be made "
                            "right now. Try again in a minute." % self.server, "model_unavailable")
        if isinstance(e, ModelNotFound):
            return WebError(503, "The model server (%s) does not serve a model named %r (yet)."
                            % (self.server, s.model_name), "model_not_found")
        return WebError(502, "The model server (%s) answered with an error: %s" % (self.server, str(e)[:300]),
                        "model_error")

    def input_report(self, body: str) -> dict:
        """How much of the body the model reads: words and subwords, whether the body was cut, and whether it is
        mostly in a script other than Latin (then `script` names it); `notice` says either to the reader."""
        cut_chars = len(body) > MAX_BODY_CHARS
        cleaned = clean_body(body[:MAX_BODY_CHARS], max_words=0)
        words = cleaned.split(" ") if cleaned else []
        read = words[:MAX_BODY_WORDS]
        n_ids = len(self.codec.encoder.encode(" ".join(read)))
        max_ids = self.codec.max_input_ids - 1  # the last one is EOS
        truncated = cut_chars or len(words) > MAX_BODY_WORDS or n_ids > max_ids
        report = {"truncated": truncated, "words": len(words), "words_read": len(read),
                  "subwords_read": min(n_ids, max_ids), "max_subwords": max_ids, "chars": len(body)}
        notices = []
        if truncated:
            if n_ids > max_ids:
                read_part = "its first %d subwords (about its first %d words)" % (
                    max_ids, max(1, round(len(read) * max_ids / n_ids)))
            else:
                read_part = "its first %d words" % len(read)
            total = "%s characters" % format(len(body), ",") if cut_chars else "%s words" % format(len(words), ",")
            notices.append("This issue is long (%s after cleaning): the model read only %s; the rest was cut."
                           % (total, read_part))
        foreign = main_foreign_script(" ".join(read))
        if foreign:
            report["script"] = foreign[0]
            notices.append("This issue is mostly in %s letters (%d%% of its letters): the model learned from English "
                           "issues, so its title may not make sense." % (foreign[0], round(100 * foreign[1])))
        if notices:
            report["notice"] = " ".join(notices)
        return report

    def generate(self, body: str) -> dict:
        start = time.perf_counter()
        report = self.input_report(body)
        client = self._client()  # the vocabulary is loaded by now (input_report): the call is the model server's
        call_start = time.perf_counter()
        try:
            title = client.generate(body[:MAX_BODY_CHARS])
        except WebError:
            raise
        except (ServerDown, ModelNotFound, BadResponse) as e:
            self.metrics.model_call("title", call_outcome(e), call_start)
            raise self._error(e) from None
        self.metrics.model_call("title", "ok", call_start)
        min_score = self.settings.confidence_min_score
        alternatives = [dict(title=text, score=score, confidence=confidence(score, min_score), **taken(text, body))
                        for text, score in title.candidates[1:1 + MAX_ALTERNATIVES]]
        return {"title": title.title, "score": title.score, "confidence": confidence(title.score, min_score),
                "model_version": title.model_version,
                "elapsed_ms": round((time.perf_counter() - start) * 1000, 1), "input": report,
                "truncated": report["truncated"], "notice": report.get("notice", ""),
                **taken(title.title, body), "alternatives": alternatives}

    def health(self) -> dict:
        s = self.settings
        out = {"model_server": self.server, "protocol": s.protocol, "model_name": s.model_name, "reachable": False,
               "versions": [], "version": None, "vocab_loaded": self.codec.loaded}
        client, call_start = self._client(health=True), time.perf_counter()
        try:
            status = client.status()
        except (ServerDown, ModelNotFound, BadResponse) as e:
            self.metrics.model_call("status", call_outcome(e), call_start)
            out["error"] = self._error(e).message
            return out
        self.metrics.model_call("status", "ok", call_start)
        out["reachable"] = True
        out["versions"] = [{"version": int(v["version"]) if str(v.get("version", "")).isdigit() else v.get("version"),
                            "state": v.get("state")} for v in status]
        available = [v["version"] for v in out["versions"]
                     if v["state"] == "AVAILABLE" and isinstance(v["version"], int)]
        out["version"] = max(available) if available else None
        if out["version"] is None:
            out["error"] = "The model server (%s) has no version of %r available." % (self.server, s.model_name)
        return out
