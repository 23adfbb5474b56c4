"""The web app's settings, read from the environment (create_app(config) overrides any of them by field name).

Variable (default): meaning
- GHSUMM_MODEL_SERVER (http://127.0.0.1:8501 for rest, 127.0.0.1:8500 for grpc): the model server (TF Serving
  protocol), e.g. the model's Service on a cluster
- GHSUMM_PROTOCOL (rest): rest or grpc
- GHSUMM_MODEL_NAME (ghsumm): the served model's name
- GHSUMM_MODEL_TIMEOUT (30): seconds to wait for one title
- GHSUMM_VOCAB (found in the model base path): the run's vocab.*.subwords file (local, gs://, ...)
- GHSUMM_MODEL_BASE_PATH (work/serving/ghsumm): where to find the vocabulary when GHSUMM_VOCAB is unset: the
  newest numbered version's assets.extra/
- GHSUMM_MAX_INPUT_IDS (512): the model's input length in subwords (EOS included)
- GHSUMM_ISSUES (data/sample/github_issues.csv): the Random issue source: an issue file (any shape
  data/readers.py reads, or eval_issues.jsonl) or a preprocessed data dir (its eval_issues.jsonl)
- GITHUB_TOKEN (none: anonymous, 60 requests/hour): a GitHub token for issue URLs; never logged or shown
- GITHUB_API_URL (https://api.github.com): GitHub's API (GitHub Enterprise: https://HOST/api/v3)
- GHSUMM_GITHUB_HOST (derived from GITHUB_API_URL: github.com for api.github.com): the only host whose issue
  URLs are fetched
- GHSUMM_GITHUB_TIMEOUT (10): seconds to wait for GitHub
- GHSUMM_CONFIDENCE_MIN_SCORE (-5.95): a title whose model score is at least this is "likely good", below it
  "check it" (the page and /api/summarize say which); the shipped model's median score on the bundled sample's
  eval issues (data/warm_start/README.md, "Evaluation"): re-measure it for another model (`make quality`)
- GHSUMM_WARM (false): load the vocabulary (and TensorFlow, ~7 s) in the background at start-up instead of on
  the first title request (the Kubernetes manifest and `python -m webapp` set it)

The GitHub webhook (webapp/webhook.py; the rule in webapp/suggestions.py):
- GHSUMM_WEBHOOK_SECRET (none: the webhook is off): the secret given to GitHub for the webhook; never logged or shown
- GHSUMM_WEBHOOK_MODE (dry-run): dry-run (decisions are logged only) or comment (with GITHUB_TOKEN: one comment
  with the suggested title on the issue; the title itself is never edited)
- GHSUMM_WEBHOOK_DIR (work/webhook): its state (received deliveries, queued work, comments made), the decision
  log decisions.jsonl, and by default the retraining file
- GHSUMM_WEBHOOK_ISSUES (<GHSUMM_WEBHOOK_DIR>/issues.jsonl): the accepted issues, one GitHub REST issue object a
  line (what `pipeline retrain --new_data` and data.readers take)
- GHSUMM_SUGGEST_MIN_SCORE (-7.1), GHSUMM_SUGGEST_MAX_SIMILARITY (0.5), GHSUMM_SUGGEST_MIN_WORDS (3): the rule
- GHSUMM_WEBHOOK_RETRY_S (30): the first retry delay of a failed step (doubling, at most 10 minutes)
- GHSUMM_COMMENT_ATTEMPTS (5): how many times a comment is tried before it is given up

Access and limits (webapp/access.py, webapp/ratelimit.py; docs/webapp.md, "Access and limits"):
- GHSUMM_ACCESS_TOKEN (none), or GHSUMM_ACCESS_TOKEN_FILE (a file holding it, e.g. a mounted Secret): the token
  that opens /suggestions and /api/suggestions; never logged or shown
- GHSUMM_PUBLIC (auto: true when a webhook secret is set): whether others can reach the app; public and no token:
  the decision pages are off
- GHSUMM_RATE_LIMIT (30 a minute per client address when public, else off; 0: off): titles per minute per client
  on /api/summarize and /summary; GHSUMM_RATE_LIMIT_BURST (5): how many at once
- GHSUMM_TRUSTED_PROXIES (0): how many proxies in front of the app append to X-Forwarded-For; 0: the client is the
  connection's peer and X-Forwarded-For is ignored
"""
from __future__ import annotations

import dataclasses
import os
import urllib.parse

from data.project import REPO
from serving import versions

DEFAULT_ISSUES = os.path.join(REPO, "data", "sample", "github_issues.csv")
DEFAULT_MODEL_BASE_PATH = versions.base_path(os.path.join(REPO, "work"), "ghsumm")
DEFAULT_WEBHOOK_DIR = os.path.join(REPO, "work", "webhook")
DEFAULT_PORTS = {"rest": 8501, "grpc": 8500}
WEBHOOK_MODES = ("dry-run", "comment")
PUBLIC_MODES = {"auto": None, "true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
PUBLIC_RATE_LIMIT = 30  # titles a minute per client address when the app is public and GHSUMM_RATE_LIMIT is unset


def github_host_for(api_url: str) -> str:
    """The web host whose issue URLs go with an API URL: api.github.com -> github.com; a GitHub Enterprise
    https://ghe.example.com/api/v3 -> ghe.example.com."""
    host = (urllib.parse.urlsplit(api_url).hostname or "").lower()
    return host[4:] if host.startswith("api.") else host


def without_credentials(url: str) -> str:
    """A URL fit to show: any user:password@ part removed."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.hostname or ""
    if parts.port:
        netloc += ":%d" % parts.port
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


@dataclasses.dataclass
class Settings:
    model_server: str = ""
    protocol: str = "rest"
    model_name: str = "ghsumm"
    model_timeout: float = 30.0
    model_retries: int = 2
    vocab: str = ""
    model_base_path: str = DEFAULT_MODEL_BASE_PATH
    max_input_ids: int = 512
    issues: str = DEFAULT_ISSUES
    github_token: str = dataclasses.field(default="", repr=False)  # a secret: kept out of repr, logs and pages
    github_api_url: str = "https://api.github.com"
    github_host: str = ""
    github_timeout: float = 10.0
    warm: bool = False
    confidence_min_score: float = -5.95
    webhook_secret: str = dataclasses.field(default="", repr=False)  # a secret, like github_token
    webhook_mode: str = "dry-run"
    webhook_dir: str = DEFAULT_WEBHOOK_DIR
    webhook_issues: str = ""
    suggest_min_score: float = -7.1
    suggest_max_similarity: float = 0.5
    suggest_min_words: int = 3
    webhook_retry_s: float = 30.0
    comment_attempts: int = 5
    access_token: str = dataclasses.field(default="", repr=False)  # a secret, like github_token
    access_token_file: str = ""
    public_mode: str = "auto"
    rate_limit: int = -1
    rate_limit_burst: int = 5
    trusted_proxies: int = 0

    ENV = {"model_server": "GHSUMM_MODEL_SERVER", "protocol": "GHSUMM_PROTOCOL", "model_name": "GHSUMM_MODEL_NAME",
           "model_timeout": "GHSUMM_MODEL_TIMEOUT", "vocab": "GHSUMM_VOCAB",
           "model_base_path": "GHSUMM_MODEL_BASE_PATH", "max_input_ids": "GHSUMM_MAX_INPUT_IDS",
           "issues": "GHSUMM_ISSUES", "github_token": "GITHUB_TOKEN", "github_api_url": "GITHUB_API_URL",
           "github_host": "GHSUMM_GITHUB_HOST", "github_timeout": "GHSUMM_GITHUB_TIMEOUT",
           "warm": "GHSUMM_WARM", "confidence_min_score": "GHSUMM_CONFIDENCE_MIN_SCORE",
           "webhook_secret": "GHSUMM_WEBHOOK_SECRET", "webhook_mode": "GHSUMM_WEBHOOK_MODE",
           "webhook_dir": "GHSUMM_WEBHOOK_DIR", "webhook_issues": "GHSUMM_WEBHOOK_ISSUES",
           "suggest_min_score": "GHSUMM_SUGGEST_MIN_SCORE", "suggest_max_similarity": "GHSUMM_SUGGEST_MAX_SIMILARITY",
           "suggest_min_words": "GHSUMM_SUGGEST_MIN_WORDS", "webhook_retry_s": "GHSUMM_WEBHOOK_RETRY_S",
           "comment_attempts": "GHSUMM_COMMENT_ATTEMPTS", "access_token": "GHSUMM_ACCESS_TOKEN",
           "access_token_file": "GHSUMM_ACCESS_TOKEN_FILE", "public_mode": "GHSUMM_PUBLIC",
           "rate_limit": "GHSUMM_RATE_LIMIT", "rate_limit_burst": "GHSUMM_RATE_LIMIT_BURST",
           "trusted_proxies": "GHSUMM_TRUSTED_PROXIES"}

    @classmethod
    def from_env(cls, environ=None, **overrides) -> "Settings":
        environ = os.environ if environ is None else environ
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(overrides) - set(fields)
        if unknown:
            raise ValueError("unknown setting(s) %s; known: %s" % (sorted(unknown), ", ".join(fields)))
        values = {}
        for name, var in cls.ENV.items():
            raw = environ.get(var, "").strip()
            if raw:
                values[name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        for name, value in list(values.items()):
            kind = type(fields[name].default)
            if kind is bool and isinstance(value, str):
                if value.lower() not in ("1", "true", "yes", "0", "false", "no"):
                    raise ValueError("%s must be true or false, not %r" % (cls.ENV.get(name, name), value))
                value = value.lower() in ("1", "true", "yes")
            try:
                values[name] = kind(value)
            except (TypeError, ValueError):
                raise ValueError("%s must be a %s, not %r" % (cls.ENV.get(name, name), kind.__name__, value)) from None
        s = cls(**values)
        s.protocol = s.protocol.lower()
        if s.protocol not in DEFAULT_PORTS:
            raise ValueError("GHSUMM_PROTOCOL must be rest or grpc, not %r" % s.protocol)
        if not s.model_server:
            template = "http://127.0.0.1:%d" if s.protocol == "rest" else "127.0.0.1:%d"
            s.model_server = template % DEFAULT_PORTS[s.protocol]
        s.github_api_url = s.github_api_url.rstrip("/")
        if not s.github_host:
            s.github_host = github_host_for(s.github_api_url)
        s.github_host = s.github_host.lower()
        if s.max_input_ids < 2:
            raise ValueError("GHSUMM_MAX_INPUT_IDS must be at least 2")
        s.webhook_mode = s.webhook_mode.lower().replace("_", "-")
        if s.webhook_mode not in WEBHOOK_MODES:
            raise ValueError("GHSUMM_WEBHOOK_MODE must be dry-run or comment, not %r" % s.webhook_mode)
        if not 0.0 <= s.suggest_max_similarity <= 1.0:
            raise ValueError("GHSUMM_SUGGEST_MAX_SIMILARITY must be between 0 and 1")
        if s.webhook_retry_s <= 0 or s.comment_attempts < 1:
            raise ValueError("GHSUMM_WEBHOOK_RETRY_S must be positive and GHSUMM_COMMENT_ATTEMPTS at least 1")
        if not s.webhook_issues:
            s.webhook_issues = os.path.join(s.webhook_dir, "issues.jsonl")
        if not s.access_token and s.access_token_file:
            with open(s.access_token_file, encoding="utf-8") as f:  # e.g. a mounted Secret's key
                s.access_token = f.read().strip()
        s.public_mode = str(s.public_mode).lower()
        if s.public_mode not in PUBLIC_MODES:
            raise ValueError("GHSUMM_PUBLIC must be true, false or auto, not %r" % s.public_mode)
        if s.rate_limit < 0:
            s.rate_limit = PUBLIC_RATE_LIMIT if s.is_public else 0
        if s.rate_limit_burst < 1 or s.trusted_proxies < 0:
            raise ValueError("GHSUMM_RATE_LIMIT_BURST must be at least 1 and GHSUMM_TRUSTED_PROXIES at least 0")
        return s

    @property
    def is_public(self) -> bool:
        """Whether the app is reachable by others: GHSUMM_PUBLIC true, or auto with a webhook secret set (a
        webhook is there for GitHub to reach it)."""
        if self.public_mode == "auto":
            return bool(self.webhook_secret)
        return PUBLIC_MODES[self.public_mode]

    @property
    def commenting(self) -> bool:
        """Whether the webhook acts (comments): comment mode and a token; otherwise it is a dry run."""
        return self.webhook_mode == "comment" and bool(self.github_token)

    def webhook_public(self) -> dict:
        """What the suggestions page may show about the webhook (never the secret or the token)."""
        note = ""
        if self.webhook_mode == "comment" and not self.github_token:
            note = "GHSUMM_WEBHOOK_MODE is comment but GITHUB_TOKEN is not set: dry run"
        return {"enabled": bool(self.webhook_secret), "mode": "comment" if self.commenting else "dry-run",
                "mode_note": note, "rule": {"min_score": self.suggest_min_score,
                                            "max_similarity": self.suggest_max_similarity,
                                            "min_words": self.suggest_min_words}}

    def public(self) -> dict:
        """What the page and /healthz may show (no token: only whether one is set)."""
        return {"model_server": without_credentials(self.model_server), "protocol": self.protocol,
                "model_name": self.model_name, "github_host": self.github_host,
                "github_api_url": without_credentials(self.github_api_url),
                "github_token_set": bool(self.github_token), "max_input_ids": self.max_input_ids,
                "confidence_min_score": self.confidence_min_score, "webhook_enabled": bool(self.webhook_secret),
                "public": self.is_public, "access_token_set": bool(self.access_token), "rate_limit": self.rate_limit}
