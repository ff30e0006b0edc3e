"""What the player page is given: the grant and sources of a playable record, or the missing approval."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from sqlalchemy.orm import Session

from tests.vault.access.conftest import GrantFor, Media, People, StoreEvidence
from vault.access.content import SELF_VIEW, Variant
from vault.access.explain import Missing
from vault.access.player import DEFAULT_FRAME_RATE, open_player
from vault.errors import NotFound


def test_a_granted_video_plays_under_its_grant_with_both_sources_and_its_frame_rate(
    session: Session, people: People, media: Media, store_evidence: StoreEvidence, grant_for: GrantFor, now: datetime
) -> None:
    clip = store_evidence(media.mp4, uploader=people.officer, media_type="video/mp4", proxy=media.proxy,
                          media_info={"frame_rate": 30.0})
    grant = grant_for(people.reviewer, [clip])
    view = open_player(session=session, actor=people.reviewer.actor, evidence_id=clip, now=grant.starts_at,
                       self_view=True)
    assert view.playable and view.basis == "grant" and view.grant is not None and view.grant.id == grant.id
    assert (view.kind, view.frame_rate, view.variants) == ("video", 30.0, (Variant.ORIGINAL, Variant.PROXY))


def test_without_a_grant_the_player_gets_the_missing_approval(
    session: Session, people: People, media: Media, store_evidence: StoreEvidence, now: datetime
) -> None:
    # (000 第十二条) no viewing without approval
    photo = store_evidence(media.jpeg, uploader=people.officer, media_type="image/jpeg")
    view = open_player(session=session, actor=people.reviewer.actor, evidence_id=photo, now=now, self_view=True)
    assert not view.playable and view.missing is not None and view.missing.missing == Missing.NO_REQUEST
    assert view.kind == "image" and view.frame_rate == DEFAULT_FRAME_RATE


@pytest.mark.parametrize("self_view", [True, False])
def test_the_uploader_plays_their_own_footage_only_if_the_agency_allows_it(
    session: Session, people: People, media: Media, store_evidence: StoreEvidence, now: datetime, self_view: bool
) -> None:
    clip = store_evidence(media.mkv, uploader=people.officer, media_type="video/x-matroska", proxy=media.proxy)
    view = open_player(session=session, actor=people.officer.actor, evidence_id=clip, now=now, self_view=self_view)
    assert view.playable is self_view and view.variants == (Variant.PROXY,)
    assert view.basis == (SELF_VIEW if self_view else None)


def test_a_record_one_may_not_see_is_not_found(
    session: Session, people: People, media: Media, store_evidence: StoreEvidence, now: datetime
) -> None:
    clip = store_evidence(media.mp4, uploader=people.officer, media_type="video/mp4")
    with pytest.raises(NotFound):
        open_player(session=session, actor=people.other_officer.actor, evidence_id=clip, now=now, self_view=True)
    with pytest.raises(NotFound):
        open_player(session=session, actor=people.reviewer.actor, evidence_id=uuid.uuid4(), now=now, self_view=True)
