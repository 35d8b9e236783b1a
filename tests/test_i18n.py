"""The intranet in English and Simplified Chinese (issue 11, item 4).

The Chinese interface is complete: no visible text in the templates outside translation tags,
every string the code marks for translation has a Chinese translation in the committed .po,
and the committed .mo says the same. A browser asking for Chinese, or a user choosing it in the
header, gets Chinese pages with Chinese dates; English stays the default.
"""

from __future__ import annotations

import ast
import gettext
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django.utils.translation.template import templatize

from colleagues.models import Colleague
from colleagues.roles import Role
from knowledge.models import Item
from tests.factories import make_user
from tests.i18n_lint import untranslated
from tests.knowledge.conftest import Org
from tests.knowledge.conftest import org as org  # the fixture

ROOT = Path(settings.BASE_DIR)
TEMPLATES = ROOT / "templates"
PO = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
# The apps whose Python code puts text on the intranet's pages.
APPS = "agents answers colleagues config connectors knowledge offboarding skills".split()


# --- Every visible string is translated ------------------------------------------------------


def test_no_template_shows_text_outside_translation_tags() -> None:
    found = [line for path in sorted(TEMPLATES.rglob("*.html")) for line in untranslated(path)]
    assert found == [], "Visible text outside {% translate %}:\n" + "\n".join(found)


def test_the_template_check_reports_each_untranslated_text_with_its_line(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(
        '{% extends "base.html" %}{% load i18n %}\n'
        "{% block content %}\n"
        "<h1>{% translate 'Colleagues' %}</h1>\n"
        "<p>Nobody has left yet.</p>\n"
        '<input type="search" placeholder="Search what they wrote">\n'
        '<input type="submit" value="Send">\n'
        '<button title="{% translate \'Close\' %}" aria-label="Close the dialog">×</button>\n'
        "<p>{% blocktranslate trimmed %}Left {{ day }}{% endblocktranslate %} · #{{ pk }}</p>\n"
        "<pre><code>python manage.py ingest PATH</code></pre>\n"
        "<p>{% if x %}\n  Ask {{ name }}{% endif %}</p>\n"
        "{% endblock %}\n"
    )
    assert untranslated(page) == [
        f"{page}:4: Nobody has left yet.",
        f'{page}:5: placeholder="Search what they wrote"',
        f'{page}:6: value="Send"',
        f'{page}:7: aria-label="Close the dialog"',
        f"{page}:11: {{…}} Ask {{…}} {{…}}",
    ]


@dataclass(frozen=True)
class Entry:
    msgid: str
    plural: str
    msgstrs: tuple[str, ...]
    fuzzy: bool


def read_po(path: Path) -> list[Entry]:
    """The entries of a .po file (without the header): enough of the format for ours."""
    entries = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        fields: dict[str, str] = {}
        key = ""
        fuzzy = False
        for line in block.splitlines():
            if line.startswith("#,") and "fuzzy" in line:
                fuzzy = True
            elif line.startswith("#") or not line.strip():
                continue
            elif line.startswith('"'):
                fields[key] += ast.literal_eval(line)
            else:
                key, _, value = line.partition(" ")
                fields[key] = ast.literal_eval(value)
        if fields.get("msgid"):
            strs = tuple(v for k, v in sorted(fields.items()) if k.startswith("msgstr"))
            entries.append(Entry(fields["msgid"], fields.get("msgid_plural", ""), strs, fuzzy))
    return entries


def test_every_entry_of_the_chinese_catalog_is_translated() -> None:
    entries = read_po(PO)
    assert len(entries) > 500
    assert [e.msgid for e in entries if e.fuzzy] == []
    assert [e.msgid for e in entries if not all(s.strip() for s in e.msgstrs)] == []


def test_the_committed_mo_is_compiled_from_the_po() -> None:
    with MO.open("rb") as file:
        compiled = gettext.GNUTranslations(file)
    expected: dict[object, str] = {}
    for e in read_po(PO):
        if e.plural:
            expected.update({(e.msgid, n): s for n, s in enumerate(e.msgstrs)})
        else:
            expected[e.msgid] = e.msgstrs[0]
    catalog = dict(compiled._catalog)  # type: ignore[attr-defined]
    catalog.pop("", None)  # the header
    assert catalog == expected, "run `make messages` to compile locale/zh_Hans"


def _template_msgids(path: Path) -> set[str]:
    """The msgids makemessages takes from a template (singular forms)."""
    code = templatize(path.read_text(encoding="utf-8"), origin=str(path))
    literal = r"""u?('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
    calls = re.findall(rf"\b(?:n?gettext)\({literal}", code)
    return {ast.literal_eval(text) for text in calls}


def _python_msgids(path: Path) -> set[str]:
    """The msgids of gettext calls in a Python file (singular forms)."""
    names = {"_", "gettext", "gettext_lazy", "ngettext", "ngettext_lazy"}
    msgids = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in names
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            msgids.add(node.args[0].value)
    return msgids


def test_every_string_marked_in_the_code_has_a_chinese_translation() -> None:
    marked = {m for path in TEMPLATES.rglob("*.html") for m in _template_msgids(path)}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" not in path.parts:
                marked |= _python_msgids(path)
    assert len(marked) > 500
    translated = {e.msgid for e in read_po(PO) if all(s.strip() for s in e.msgstrs)}
    assert sorted(marked - translated) == [], "run `make messages` and translate the new entries"


# --- Pages in Chinese ------------------------------------------------------------------------


@pytest.fixture
def dana(db: None) -> Client:
    """Dana, an employee, signed in; Omar left on 30 June 2025."""
    person = Colleague.objects.create(name="Dana Whitfield", slug="dana", email="dana@example.com")
    Colleague.objects.create(
        name="Omar Haddad",
        slug="omar",
        email="omar@example.com",
        status=Colleague.Status.DEPARTED,
        departed_on=date(2025, 6, 30),
    )
    client = Client()
    client.force_login(make_user("dana", colleague=person, roles=(Role.EMPLOYEE,)))  # type: ignore[arg-type]
    return client


def test_english_is_the_default(dana: Client) -> None:
    page = dana.get("/").content.decode()
    assert '<html lang="en">' in page
    assert ">Who knows?</h2>" in page
    assert ">Home</a>" in page
    assert "Left 30 Jun 2025" in page


@pytest.mark.parametrize("accept", ["zh-Hans", "zh-CN,zh;q=0.9,en;q=0.8", "zh-hans-CN"])
def test_a_browser_asking_for_chinese_gets_the_home_page_in_chinese(
    dana: Client, accept: str
) -> None:
    page = dana.get("/", HTTP_ACCEPT_LANGUAGE=accept).content.decode()
    assert '<html lang="zh-hans">' in page
    assert ">首页</a>" in page  # the navigation
    assert ">谁知道</a>" in page
    assert ">退出登录</button>" in page
    assert "<h1>他们知道些什么？</h1>" in page
    assert ">谁知道？</h2>" in page
    assert 'placeholder="一个问题或主题：账单密钥轮换、月末冻结……"' in page
    assert ">查找</button>" in page
    for english in ("Who knows", "Home</a>", "Log out", "Search</button>"):
        assert english not in page


def test_dates_are_written_the_chinese_way(dana: Client) -> None:
    page = dana.get("/", HTTP_ACCEPT_LANGUAGE="zh-Hans").content.decode()
    assert "2025年6月30日 离职" in page
    assert "30 Jun 2025" not in page


def test_the_ask_and_who_knows_forms_are_in_chinese(dana: Client) -> None:
    who = dana.get("/who-knows/?q=billing", HTTP_ACCEPT_LANGUAGE="zh-Hans").content.decode()
    assert "<h1>谁知道？</h1>" in who
    assert ">问题或主题</label>" in who
    assert "在你有权查看的内容中，没有人写过相关内容。" in who
    ask = dana.get("/colleagues/omar/ask/", HTTP_ACCEPT_LANGUAGE="zh-Hans").content.decode()
    assert "<h1>向 Omar Haddad 提问" in ask
    assert ">已离职</span>" in ask  # the colleague's status, a model choice
    assert ">你的问题</label>" in ask  # the form's label
    assert ">提问</button>" in ask
    assert "问一个 Omar Haddad 可能知道的问题。" in ask


def test_choosing_chinese_in_the_header_keeps_the_intranet_in_chinese(dana: Client) -> None:
    home = dana.get("/").content.decode()
    assert 'action="/i18n/setlang/"' in home
    assert 'name="language" value="zh-hans"' in home
    chosen = dana.post("/i18n/setlang/", {"language": "zh-hans", "next": "/colleagues/"})
    assert chosen.status_code == 302
    assert chosen["Location"] == "/colleagues/"
    # Later pages are Chinese whatever the browser asks for.
    page = dana.get("/colleagues/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="zh-hans">' in page
    assert "<h1>同事</h1>" in page
    assert ">所有部门</option>" in page
    dana.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert "<h1>Colleagues</h1>" in dana.get("/colleagues/").content.decode()


def test_the_login_page_follows_the_browser(db: None) -> None:
    page = Client().get("/login/", HTTP_ACCEPT_LANGUAGE="zh-Hans").content.decode()
    assert "<h1>登录</h1>" in page
    assert ">用户名</label>" in page
    assert ">English</button>" in page  # the switcher names each language in itself
    assert '<span lang="zh-hans" class="current-language">简体中文</span>' in page


def test_audit_downloads_stay_in_english_under_a_chinese_page(db: None) -> None:
    """CSV and PDF are records for scripts and other readers, and the PDF font has no Chinese."""
    Colleague.objects.create(name="Dana Whitfield", slug="dana", email="dana@example.com")
    client = Client()
    client.force_login(make_user("auditor", roles=(Role.AUDITOR,)))  # type: ignore[arg-type]
    page = client.get("/knowledge/audit/consent/", HTTP_ACCEPT_LANGUAGE="zh-Hans")
    assert "<h1>同意状态</h1>" in page.content.decode()
    assert ">政策不要求<" in page.content.decode()
    assert '<th scope="col">最近更改（UTC）</th>' in page.content.decode()  # the report's table
    csv = client.get("/knowledge/audit/consent/?format=csv", HTTP_ACCEPT_LANGUAGE="zh-Hans")
    assert csv["Content-Type"].startswith("text/csv")
    assert csv.content.decode().startswith("Colleague,Department,Status,Consent,Last changed")
    assert "Not required by policy" in csv.content.decode()
    assert "政策" not in csv.content.decode()


def test_a_case_opened_from_a_chinese_page_notifies_hr_in_english(
    db: None, django_capture_on_commit_callbacks: Any
) -> None:
    """Notices are English text; the choice labels in them must not come out in Chinese."""
    leaver = Colleague.objects.create(name="Omar Haddad", slug="omar", email="omar@example.com")
    hr = make_user("hr", roles=(Role.HR_ADMIN,), email="hr@example.com")
    client = Client()
    client.force_login(hr)  # type: ignore[arg-type]
    with django_capture_on_commit_callbacks(execute=True):
        page = client.post(
            "/offboarding/cases/",
            {"colleague": leaver.pk, "last_day": "2026-12-18", "access_policy": "team"},
            HTTP_ACCEPT_LANGUAGE="zh-Hans",
            follow=True,
        )
    assert "已创建，并附带检查清单。" in page.content.decode()  # the page's message
    [notice] = mail.outbox
    assert "Opened by HR in the intranet." in notice.body
    assert "由 HR 在内网创建" not in notice.body
    # A refusal from the offboarding rules reaches the form in Chinese too.
    again = client.post(
        "/offboarding/cases/",
        {"colleague": leaver.pk, "last_day": "2026-12-18", "access_policy": "team"},
        HTTP_ACCEPT_LANGUAGE="zh-Hans",
    )
    assert again.status_code == 400
    assert "Omar Haddad 已有一个进行中的离职流程（#" in again.content.decode()


def test_an_item_page_says_in_chinese_what_it_is_and_how_long_it_is_kept(org: Org) -> None:
    item = Item.objects.filter(body__contains="terraform pipeline").get()
    client = Client()
    client.force_login(org.carol_user)  # type: ignore[arg-type]
    page = client.get(item.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="zh-Hans").content.decode()
    assert "来自 acme-slack 的消息" in page
    assert "保留：没有适用的保留策略。" in page
    assert ">返回搜索</a>" in page
