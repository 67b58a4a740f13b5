"""A client secret read from a file is re-read on use: rotate it at the server and in the file, force
a new token (401 -> refresh -> replay) and the new secret is used without a restart."""

import os

from oauth_fixtures import api_get, client, oauth_config, route

OLD = "e2e-oauth-rotation-old-8e21b4"
NEW = "e2e-oauth-rotation-new-c5f0d7"


def write_atomically(path, text):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def test_rotated_secret_file_is_picked_up(latchkey, oauth_server, tmp_path):
    srv = oauth_server([client("app1", OLD)])
    secret_file = tmp_path / "client-secret"
    secret_file.write_text(OLD + "\n")  # trailing newline stripped
    conn = [f"token_url: {srv.token_url}", "client_id: app1", 'client_secret: "{{secret:client_secret}}"']
    top = ["secrets:", f"  client_secret: {{file: {secret_file}}}"]
    lk = latchkey(oauth_config(conn, [route("api", srv.url)], top=top), secrets=[OLD, NEW])
    lk.wait_for_log(r"connection oauth: Connected")
    assert api_get(lk).status == 200

    srv.set_secret("app1", NEW)
    write_atomically(secret_file, NEW + "\n")
    srv.revoke_all()
    before = srv.stats()

    reply = api_get(lk)
    assert reply.status == 200, reply.body
    after = srv.stats()
    new_requests = after["last_requests"][before["token_requests"]:]
    assert [r["status"] for r in new_requests] == [200], new_requests  # the new secret, first time
    assert after["resource_requests_unauthorized"] == before["resource_requests_unauthorized"] + 1
