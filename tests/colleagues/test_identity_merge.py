"""One person under two addresses: merge them, and undo a wrong merge by splitting."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from colleagues.actions import IdentityChangeRefused, link_login, merge_colleagues
from colleagues.models import Colleague, Identity
from colleagues.selectors import merge_candidates
from connectors.actions import run_sync, source_for_path
from knowledge.selectors import items_by, items_visible_to
from knowledge.visibility import Reader, reader_for

pytestmark = pytest.mark.django_db


def mail(folder: Path, n: int, sender: str, to: str, subject: str) -> None:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<m{n}@enron.test>"
    message["Date"] = "Mon, 5 Mar 2001 08:23:00 -0800"
    message.set_content(f"{subject}. Please review the ISDA schedule before Friday.")
    (folder / f"{n}.eml").write_bytes(bytes(message))


@pytest.fixture
def taylors(tmp_path: Path) -> tuple[Colleague, Colleague]:
    """Liz Taylor writes from two addresses; a third mail is sent to the old one."""
    folder = tmp_path / "mail"
    folder.mkdir()
    mail(folder, 1, "m..taylor@enron.test", "legal@enron.test", "Master agreement")
    mail(folder, 2, "liz.taylor@enron.test", "legal@enron.test", "Guaranty form")
    mail(folder, 3, "legal@enron.test", "m..taylor@enron.test", "Signed copies")
    run_sync(source=source_for_path(folder, kind="email"))
    return (
        Colleague.objects.get(email="liz.taylor@enron.test"),
        Colleague.objects.get(email="m..taylor@enron.test"),
    )


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_user("hr", password="pw", is_staff=True))
    return client


def titles(items) -> set[str]:  # type: ignore[no-untyped-def]
    return set(items.values_list("title", flat=True))


def test_merge_candidates_share_a_surname(taylors: tuple[Colleague, Colleague]) -> None:
    liz, m = taylors
    assert merge_candidates(liz) == [m]
    assert merge_candidates(m) == [liz]


def test_merging_in_the_ui_gives_one_colleague_with_both_addresses_work(
    admin_client: Client, taylors: tuple[Colleague, Colleague]
) -> None:
    liz, m = taylors
    page = admin_client.get(f"/colleagues/{liz.slug}/")
    assert b"m..taylor@enron.test" in page.content  # suggested
    assert page.content.count(b'<section class="card admin-only">') == 1  # not in <title>
    admin_client.post(f"/colleagues/{liz.slug}/merge/", {"absorb": "m..taylor@enron.test"})
    assert not Colleague.objects.filter(pk=m.pk).exists()
    assert set(liz.identities.values_list("value", flat=True)) == {
        "liz.taylor@enron.test",
        "m..taylor@enron.test",
    }
    assert titles(items_by(Reader.operator(), liz)) == {"Master agreement", "Guaranty form"}


def test_after_a_merge_her_login_sees_mail_sent_to_either_address(
    taylors: tuple[Colleague, Colleague],
) -> None:
    liz, m = taylors
    user = get_user_model().objects.create_user("liz", password="pw")
    link_login(colleague=liz, user=user)
    assert "Signed copies" not in titles(items_visible_to(reader_for(user)))
    merge_colleagues(keep=liz, absorb=m)
    assert "Signed copies" in titles(items_visible_to(reader_for(user)))


def test_a_wrong_merge_is_undone_by_splitting_the_identity(
    admin_client: Client, taylors: tuple[Colleague, Colleague]
) -> None:
    liz, m = taylors
    merge_colleagues(keep=liz, absorb=m)
    identity = Identity.objects.get(value="m..taylor@enron.test")
    page = admin_client.post(f"/colleagues/{liz.slug}/identities/{identity.pk}/split/", follow=True)
    split = Colleague.objects.get(identities=identity)
    assert split.pk != liz.pk
    assert split.email == "m..taylor@enron.test"
    assert b"split from" in page.content
    assert titles(items_by(Reader.operator(), split)) == {"Master agreement"}
    assert titles(items_by(Reader.operator(), liz)) == {"Guaranty form"}
    only = liz.identities.get()
    refused = admin_client.post(f"/colleagues/{liz.slug}/identities/{only.pk}/split/", follow=True)
    assert b"only identity" in refused.content
    assert liz.identities.count() == 1


def test_two_logins_are_never_merged(taylors: tuple[Colleague, Colleague]) -> None:
    liz, m = taylors
    users = get_user_model().objects
    link_login(colleague=liz, user=users.create_user("a", password="pw"))
    link_login(colleague=m, user=users.create_user("b", password="pw"))
    with pytest.raises(IdentityChangeRefused, match="both have a login"):
        merge_colleagues(keep=liz, absorb=m)
    assert Colleague.objects.filter(pk=m.pk).exists()


def test_only_administrators_merge(taylors: tuple[Colleague, Colleague]) -> None:
    liz, m = taylors
    client = Client()
    client.force_login(get_user_model().objects.create_user("someone", password="pw"))
    page = client.get(f"/colleagues/{liz.slug}/")
    assert b"Identities" not in page.content
    client.post(f"/colleagues/{liz.slug}/merge/", {"absorb": m.slug})
    assert Colleague.objects.filter(pk=m.pk).exists()
