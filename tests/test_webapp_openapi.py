"""The web app's OpenAPI document (webapp/openapi.py): it validates (openapi-spec-validator), and every endpoint
it lists, driven through Flask's test client against a stub model server that answers candidates as a minimum
Bayes risk export does, answers with a documented status and a body its schema accepts. Also what
/api/summarize adds for a person: the confidence in words, up to three distinct alternatives, the body's words
the title took and where they stand."""
import json

import pytest
from github_api_stub import GitHubApiStub
from openapi_schema_validator import OAS31Validator, validate
from openapi_spec_validator import validate as validate_spec

from webapp import create_app
from webapp.webhook import signature

pytestmark = pytest.mark.usefixtures("clean_webapp_env")

BODY = "When I use a DataLoader with num_workers=4 on Windows the script hangs at the first batch."
TITLE = "dataloader hangs on windows"
# the export's candidates, ranked: the title, a repeat of its words, then four others (one too many)
CANDIDATES = [(TITLE, -4.0), (TITLE + ".", -4.2), ("windows dataloader hangs forever", -7.5),
              ("the script hangs at the first batch", -5.0), ("dataloader num_workers hangs", -6.5),
              ("one too many", -3.0)]
SECRET = "openapi-test-secret"
ACCESS = "openapi-test-access-token"


@pytest.fixture
def api(webapp_config, stub_model_server, title_codec, tmp_path):
    """(test client, OpenAPI document, GitHub stub): the app on a stub model server that answers CANDIDATES,
    its GitHub API a stub with one issue, the webhook on."""
    def ids(text):
        return title_codec.encoder.encode(text) + [1]
    stub = stub_model_server(ids(TITLE), score=-4.0, version=7, candidates=[(ids(t), s) for t, s in CANDIDATES])
    with GitHubApiStub() as github:
        github.add_issue("octo", "hello", 7, title="DataLoader hangs", body=BODY)
        github.add_issue("octo", "hello", 8, title="empty", body="")
        app = create_app(dict(webapp_config, model_server=stub.url, github_api_url=github.url,
                              confidence_min_score=-6.0, webhook_secret=SECRET, access_token=ACCESS,
                              rate_limit=0, webhook_dir=str(tmp_path / "webhook")))
        client = app.test_client()
        yield client, client.get("/api/openapi.json").get_json(), github


def check(document, method, path, response):
    """The response's status is documented for the operation, and its JSON body fits the documented schema."""
    operation = document["paths"][path][method]
    documented = operation["responses"].get(str(response.status_code))
    assert documented, "%s %s answered %d, not documented" % (method.upper(), path, response.status_code)
    if "content" in documented:
        schema = documented["content"]["application/json"]["schema"]
        validate(response.get_json(), dict(schema, components=document["components"]), cls=OAS31Validator)
    else:
        assert not response.get_data()


def webhook_post(client, event, payload, signed=True, delivery="d-1"):
    raw = json.dumps(payload).encode()
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery}
    if signed:
        headers["X-Hub-Signature-256"] = signature(SECRET, raw)
    return client.post("/github/webhook", data=raw, headers=headers, content_type="application/json")


def test_the_document_is_valid_openapi(api):
    _, document, _ = api
    validate_spec(document)
    assert document["openapi"].startswith("3.1")


def test_every_documented_endpoint_answers_as_documented(api, webapp_config):
    client, document, _ = api
    opened = {"action": "opened", "repository": {"full_name": "octo/hello"},
              "issue": {"number": 9, "title": "help", "body": BODY, "html_url": "https://github.com/octo/hello/issues/9"}}
    calls = [
        ("post", "/api/summarize", {"json": {"body": BODY}}, 200),
        ("post", "/api/summarize", {"json": {"url": "https://github.com/octo/hello/issues/7"}}, 200),
        ("post", "/api/summarize", {"json": {"body": ""}}, 400),
        ("post", "/api/summarize", {"json": {"url": "https://github.com/octo/hello/issues/99"}}, 404),
        ("post", "/api/summarize", {"json": {"url": "https://github.com/octo/hello/issues/8"}}, 422),
        ("post", "/api/summarize", {"data": b"x" * (1024 * 1024 + 1), "content_type": "application/json"}, 413),
        ("get", "/api/random_issue", {}, 200),
        ("get", "/random_github_issue", {}, 200),
        ("post", "/summary", {"data": {"issue_text": BODY}}, 200),
        ("post", "/summary", {"data": {"issue_url": "https://example.com/x"}}, 400),
        ("get", "/healthz", {}, 200),
        ("get", "/livez", {}, 200),
        ("get", "/api/openapi.json", {}, 200),
        ("get", "/api/suggestions", {"headers": {"Authorization": "Bearer " + ACCESS}}, 200),
        ("get", "/api/suggestions", {"headers": {"Authorization": "Bearer " + ACCESS},
                                     "query_string": {"limit": "0"}}, 400),
        ("get", "/api/suggestions", {}, 401),
        ("get", "/api/suggestions", {"headers": {"Authorization": "Bearer wrong"}}, 403),
    ]
    driven = set()
    for method, path, kwargs, status in calls:
        response = getattr(client, method)(path, **kwargs)
        assert response.status_code == status, (method, path, response.get_data(as_text=True)[:300])
        check(document, method, path, response)
        driven.add((method, path))
    for event, payload, signed, status in [("ping", {"zen": "hi", "hook_id": 1}, True, 200),
                                           ("issues", opened, True, 202), ("issues", opened, True, 200),
                                           ("issues", dict(opened, action="closed"), True, 204),
                                           ("issues", opened, False, 401)]:
        response = webhook_post(client, event, payload, signed)
        assert response.status_code == status, (event, response.get_data(as_text=True)[:300])
        check(document, "post", "/github/webhook", response)
    driven.add(("post", "/github/webhook"))
    # the model server down (a port nothing listens on) and the webhook off: documented failures too
    down = create_app(dict(webapp_config, model_server="http://127.0.0.1:9", model_timeout=2)).test_client()
    for method, path, kwargs, status in [("get", "/healthz", {}, 503),
                                         ("post", "/api/summarize", {"json": {"body": BODY}}, 503),
                                         ("post", "/github/webhook", {"json": {}}, 503)]:
        response = getattr(down, method)(path, **kwargs)
        assert response.status_code == status
        check(document, method, path, response)
    # this app's own per-client limit: one title a minute, the second is 429 with Retry-After
    limited = create_app(dict(webapp_config, rate_limit=1, rate_limit_burst=1)).test_client()
    limited.post("/api/summarize", json={"body": ""})
    response = limited.post("/api/summarize", json={"body": BODY})
    assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1
    check(document, "post", "/api/summarize", response)
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    assert driven == documented


def test_summarize_gives_a_confidence_alternatives_and_the_words_the_title_took(api):
    client, _, _ = api
    answer = client.post("/api/summarize", json={"body": BODY}).get_json()
    assert answer["title"] == "DataLoader hangs on Windows" and answer["score"] == -4.0  # the old fields stay
    assert answer["confidence"] == "likely good"  # -4.0 >= -6.0
    # the next three distinct candidates, in the model's order, each with its own confidence
    assert [(a["title"], a["score"], a["confidence"]) for a in answer["alternatives"]] == [
        ("Windows DataLoader hangs forever", -7.5, "check it"),
        ("The script hangs at the first batch", -5.0, "likely good"),
        ("DataLoader num_workers hangs", -6.5, "check it")]
    assert answer["body_words"] == ["dataloader", "hangs", "windows"]
    assert [BODY[s:e] for s, e in answer["highlights"]] == ["DataLoader", "Windows", "hangs"]
    assert answer["alternatives"][1]["body_words"] == ["script", "hangs", "first", "batch"]
    # for a URL the highlights are in the issue's body, which the answer carries
    by_url = client.post("/api/summarize", json={"url": "https://github.com/octo/hello/issues/7"}).get_json()
    assert [by_url["issue"]["body"][s:e] for s, e in by_url["highlights"]] == ["DataLoader", "Windows", "hangs"]


def test_an_export_without_candidates_gives_no_alternatives(webapp_config, stub_model_server, title_codec):
    stub = stub_model_server(title_codec.encoder.encode(TITLE) + [1], score=-8.0)
    client = create_app(dict(webapp_config, model_server=stub.url)).test_client()
    answer = client.post("/api/summarize", json={"body": BODY}).get_json()
    assert answer["alternatives"] == [] and answer["confidence"] == "check it"  # -8.0 < the default threshold
