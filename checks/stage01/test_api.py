"""Stage 01 checks on main.py: the posts API over HTTP."""

import pytest


@pytest.fixture
def client(subject):
    """The target's app (main.py) in the check's copy, started with its lifespan."""
    return subject.client("main")


def _create(client, title="Hello", content="World"):
    response = client.post("/posts", json={"title": title, "content": content})
    assert response.status_code == 201, f"POST /posts answered {response.status_code}, expected 201"
    return response.json()


def test_api_creates_posts(client):
    body = _create(client)
    assert body.get("title") == "Hello" and body.get("content") == "World", "the answer should be the new post"
    assert isinstance(body.get("id"), int) and body.get("published") is True, "the answer should include id and published"


def test_api_rejects_invalid_bodies(client):
    response = client.post("/posts", json={"content": "no title"})
    assert response.status_code == 422, f"a body without a title got {response.status_code}, expected 422"


def test_api_lists_and_gets_posts(client):
    first, second = _create(client, "one"), _create(client, "two")
    listed = client.get("/posts")
    assert listed.status_code == 200, f"GET /posts answered {listed.status_code}"
    assert [post["id"] for post in listed.json()] == [first["id"], second["id"]], "GET /posts should list every post by id"
    one = client.get(f"/posts/{second['id']}")
    assert one.status_code == 200 and one.json()["title"] == "two", "GET /posts/{id} should answer 200 with the post"
    missing = client.get(f"/posts/{second['id'] + 1000}")
    assert missing.status_code == 404, f"GET of a missing post answered {missing.status_code}, expected 404"


def test_api_updates_posts(client):
    post = _create(client)
    change = {"title": "Changed", "content": "Text", "published": False}
    response = client.put(f"/posts/{post['id']}", json=change)
    assert response.status_code == 200, f"PUT answered {response.status_code}, expected 200"
    assert {key: response.json().get(key) for key in change} == change, "PUT should answer with the updated post"
    assert client.get(f"/posts/{post['id']}").json()["title"] == "Changed", "the update was not saved"
    missing = client.put(f"/posts/{post['id'] + 1000}", json=change)
    assert missing.status_code == 404, f"PUT of a missing post answered {missing.status_code}, expected 404"


def test_api_deletes_posts(client):
    post = _create(client)
    response = client.delete(f"/posts/{post['id']}")
    assert response.status_code == 204, f"DELETE answered {response.status_code}, expected 204"
    assert response.content == b"", "a 204 answer must have an empty body"
    assert client.get(f"/posts/{post['id']}").status_code == 404, "the post is still there after DELETE"
    again = client.delete(f"/posts/{post['id']}")
    assert again.status_code == 404, f"DELETE of a missing post answered {again.status_code}, expected 404"
