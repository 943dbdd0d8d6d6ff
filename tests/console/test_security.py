"""The console over real HTTP on a real daemon: the login wall, CSRF, the login limit, cookies,
roles, hashed passwords and the editor's refusal of an invalid file."""

from __future__ import annotations

import re
import sqlite3
import subprocess

import pytest
import requests

from edge.console.const import FREE_FAILURES
from tests.console.conftest import HANG_GUARD_S, PASSWORDS, Site, gridedge_command, users

CSRF = re.compile(r'name="_csrf" value="([^"]+)"')
# The first test also waits for the shared daemon to start: a guard against a hang on a busy
# machine, not a speed limit.
pytestmark = pytest.mark.timeout(300)
# Every console route (method, path) that is not the login page or its two static files.
CLOSED = [("GET", "/console/"), ("GET", "/console/live"), ("GET", "/console/timetable"),
          ("GET", "/console/plays"), ("GET", "/console/plays.csv"), ("GET", "/console/edit"),
          ("GET", "/console/versions/1"), ("GET", "/console/say"),
          ("POST", "/console/logout"), ("POST", "/console/alerts/1/ack"),
          ("POST", "/console/posts/P01/1/reset"), ("POST", "/console/say"),
          ("POST", "/console/edit"), ("POST", "/console/versions/1/revert"),
          ("GET", "/api/status"), ("GET", "/metrics")]


def _login(site: Site, name: str, password: str | None = None) -> tuple[requests.Session, str]:
    session = requests.Session()
    page = session.get(f"{site.url}/console/login", timeout=HANG_GUARD_S)
    token = CSRF.search(page.text)[1]
    reply = session.post(f"{site.url}/console/login", timeout=HANG_GUARD_S,
                         data={"_csrf": token, "name": name,
                               "password": PASSWORDS[name] if password is None else password},
                         allow_redirects=False)
    assert reply.status_code == 303, reply.text  # noqa: PLR2004
    home = session.get(f"{site.url}/console/", timeout=HANG_GUARD_S)
    return session, CSRF.search(home.text)[1]


def test_nothing_opens_without_a_session_but_login_clips_and_health(console_site: Site) -> None:
    """Test that every console page and API answers 401 (or leads to login) without a session,
    while the login page, its static files and /healthz open."""
    for method, path in CLOSED:
        reply = requests.request(method, console_site.url + path, timeout=HANG_GUARD_S,
                                 allow_redirects=False)
        assert reply.status_code in (401, 403), (method, path, reply.status_code)  # noqa: PLR2004
        assert "gridedge_console" not in reply.text
    browser = requests.get(f"{console_site.url}/console/timetable", timeout=HANG_GUARD_S,
                           headers={"Accept": "text/html"}, allow_redirects=False)
    assert browser.status_code == 302  # noqa: PLR2004
    assert browser.headers["Location"] == "/console/login"
    for path in ("/console/login", "/console/static/console.js", "/console/static/console.css",
                 "/healthz"):
        assert requests.get(console_site.url + path, timeout=HANG_GUARD_S).status_code in (
            200, 503), path


def test_session_cookie_is_httponly_samesite_and_opens_the_pages(console_site: Site) -> None:
    """Test that a login sets an HttpOnly, SameSite=Strict cookie that opens pages and status."""
    session = requests.Session()
    page = session.get(f"{console_site.url}/console/login", timeout=HANG_GUARD_S)
    token = CSRF.search(page.text)[1]
    reply = session.post(f"{console_site.url}/console/login", allow_redirects=False,
                         data={"_csrf": token, "name": "admin", "password": PASSWORDS["admin"]},
                         timeout=HANG_GUARD_S)
    header = reply.headers["Set-Cookie"]
    assert "gridedge_console=" in header
    assert "HttpOnly" in header
    assert "SameSite=Strict" in header
    for path in ("/console/", "/console/timetable", "/console/plays", "/console/edit",
                 "/console/say", "/api/status"):
        reply = session.get(console_site.url + path, timeout=HANG_GUARD_S)
        assert reply.status_code == 200, path  # noqa: PLR2004


def test_a_post_without_the_csrf_token_is_refused(console_site: Site) -> None:
    """Test that a logged-in POST without, or with a wrong, CSRF token changes nothing (403)."""
    session, token = _login(console_site, "admin")
    path = console_site.folder / "schedules" / "announcements.yaml"
    before = path.read_text(encoding="utf-8")
    for data in ({"file": "schedules/announcements.yaml", "text": "announcements: {}\n"},
                 {"file": "schedules/announcements.yaml", "text": "announcements: {}\n",
                  "_csrf": token[:-2] + "xx"}):
        reply = session.post(f"{console_site.url}/console/edit", data=data, timeout=HANG_GUARD_S)
        assert reply.status_code == 403, reply.text  # noqa: PLR2004
        assert "CSRF" in reply.text
    assert path.read_text(encoding="utf-8") == before
    logout = session.post(f"{console_site.url}/console/logout", timeout=HANG_GUARD_S,
                          allow_redirects=False)
    assert logout.status_code == 403  # noqa: PLR2004 - even logging out needs the token


def test_ten_wrong_passwords_slow_the_next_attempts_down(console_site: Site) -> None:
    """Test that after ten wrong passwords even the right one is refused for a while (429)."""
    session = requests.Session()
    token = CSRF.search(session.get(f"{console_site.url}/console/login",
                                    timeout=HANG_GUARD_S).text)[1]

    def attempt(password: str) -> requests.Response:
        return session.post(f"{console_site.url}/console/login", allow_redirects=False,
                            data={"_csrf": token, "name": "clerk", "password": password},
                            timeout=HANG_GUARD_S)

    for n in range(FREE_FAILURES):
        reply = attempt(f"wrong-{n}")
        assert reply.status_code == 401, (n, reply.status_code)  # noqa: PLR2004
        assert "用户名或密码不对" in reply.text
    refused = attempt(PASSWORDS["clerk"])
    assert refused.status_code == 429  # noqa: PLR2004
    assert "密码错误次数太多" in refused.text and "秒后再试" in refused.text


def test_roles_decide_what_one_may_do(console_site: Site) -> None:
    """Test that a cadre may not reset or edit and a grid worker may not edit or say now."""
    cadre, cadre_token = _login(console_site, "chen")
    reply = cadre.post(f"{console_site.url}/console/posts/P01/1/reset", timeout=HANG_GUARD_S,
                       data={"_csrf": cadre_token, "confirm": "yes"}, allow_redirects=False)
    assert reply.status_code == 403 and "无权" in reply.text  # noqa: PLR2004
    worker, worker_token = _login(console_site, "wang")
    for path, data in (("/console/edit", {"file": "schedules/announcements.yaml", "text": "x"}),
                       ("/console/say", {"text": "测试", "speakers": "east_gate"})):
        reply = worker.post(console_site.url + path, data={**data, "_csrf": worker_token},
                            timeout=HANG_GUARD_S, allow_redirects=False)
        assert reply.status_code == 403, path  # noqa: PLR2004
    page = worker.get(f"{console_site.url}/console/edit", timeout=HANG_GUARD_S).text
    assert "只能查看" in page and 'id="save"' not in page


def test_an_invalid_file_is_never_written_and_names_its_line(console_site: Site) -> None:
    """Test that a full-width colon is refused at its line with the words of `gridedge check`,
    the file stays as it was, and the fixed text is written with a version and a diff."""
    session, token = _login(console_site, "office")
    path = console_site.folder / "schedules" / "announcements.yaml"
    before = path.read_text(encoding="utf-8")
    wrong = before.replace('at: ["08:00"]', 'at: ["08：30"]')
    reply = session.post(f"{console_site.url}/console/edit", timeout=HANG_GUARD_S, data={
        "_csrf": token, "file": "schedules/announcements.yaml", "text": wrong})
    assert reply.status_code == 422  # noqa: PLR2004
    assert 'data-line="5"' in reply.text and "全角" in reply.text
    assert path.read_text(encoding="utf-8") == before

    # The same words as `gridedge check` on that text.
    path.write_text(wrong, encoding="utf-8")
    try:
        check = subprocess.run([*gridedge_command(), "--lang", "zh", "check", "-c",  # noqa: S603
                                str(console_site.config)], capture_output=True, text=True,
                               timeout=HANG_GUARD_S, check=False)
    finally:
        path.write_text(before, encoding="utf-8")
    line = next(x for x in check.stderr.splitlines() if "全角" in x)
    assert line.split(": ", 2)[2].replace("（", "(") .split("(")[0] in reply.text.replace(
        "（", "(")

    fixed = before.replace('at: ["08:00"]', 'at: ["08:30"]')
    saved = session.post(f"{console_site.url}/console/edit", timeout=HANG_GUARD_S, data={
        "_csrf": token, "file": "schedules/announcements.yaml", "text": fixed,
        "note": "改到八点半"})
    assert saved.status_code == 200 and "已保存" in saved.text, saved.text  # noqa: PLR2004
    assert path.read_text(encoding="utf-8") == fixed
    version = int(re.search(r"versions/(\d+)\"", saved.text)[1])
    diff = session.get(f"{console_site.url}/console/versions/{version}", timeout=HANG_GUARD_S)
    assert '<ins>+    at: [&#34;08:30&#34;]</ins>' in diff.text, diff.text


def test_passwords_are_hashed_and_changes_audited(console_site: Site) -> None:
    """Test that no password is stored in clear, logins and account changes are in the audit
    log, and a new password ends the old sessions."""
    session, _token = _login(console_site, "chen")
    db = sqlite3.connect(console_site.folder / "data" / "gridedge.sqlite3")
    try:
        stored = dict(db.execute("SELECT name, pw_hash FROM console_users").fetchall())
        for name, password in PASSWORDS.items():
            assert stored[name].startswith("scrypt$") and password not in stored[name]
        changed = users(console_site.config, "set-password", "chen", password="chen-pass-02")
        assert changed.returncode == 0, changed.stderr
        kinds = {r[0] for r in db.execute("SELECT kind FROM events WHERE kind LIKE 'console.%'")}
        by_whom = db.execute("SELECT subject, json_extract(detail, '$.by') FROM events WHERE "
                             "kind = 'console.password_set'").fetchall()
    finally:
        db.close()
    assert {"console.user_added", "console.password_set", "console.login"} <= kinds
    assert ("chen", "shell:") in {(r[0], r[1][:6]) for r in by_whom}
    gone = session.get(f"{console_site.url}/console/plays", timeout=HANG_GUARD_S,
                       allow_redirects=False)
    assert gone.status_code == 401  # noqa: PLR2004
    listing = users(console_site.config, "list")
    assert "chen" in listing.stdout and "包联干部" in listing.stdout


def test_the_users_command_adds_a_roster_worker_with_their_role(console_site: Site) -> None:
    """Test that `gridedge users add duty` (a duty officer on the roster) reads the password from
    standard input, takes the role from config.yaml, and the account can log in and say now."""
    PASSWORDS["duty"] = "duty-pass-001"
    done = users(console_site.config, "add", "duty", password=PASSWORDS["duty"])
    assert done.returncode == 0, done.stderr
    assert "已添加账号“duty”：值班人员" in done.stdout
    session, _token = _login(console_site, "duty")
    page = session.get(f"{console_site.url}/console/say", timeout=HANG_GUARD_S)
    assert page.status_code == 200  # noqa: PLR2004
    again = users(console_site.config, "add", "duty", password="another-pass-1")
    assert again.returncode != 0 and "已经有账号" in again.stderr
    removed = users(console_site.config, "remove", "duty")
    assert removed.returncode == 0 and "duty" in removed.stdout, removed.stderr
    assert session.get(f"{console_site.url}/console/say", timeout=HANG_GUARD_S,
                       allow_redirects=False).status_code == 401  # noqa: PLR2004
    PASSWORDS.pop("duty")


@pytest.mark.parametrize("name", ["bad name", ""])
def test_an_account_name_must_be_plain(console_site: Site, name: str) -> None:
    """Test that `gridedge users add` refuses a name with spaces or an empty one."""
    done = users(console_site.config, "add", name, "--role", "office", password="long-enough-1")
    assert done.returncode != 0
