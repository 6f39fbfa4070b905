"""Licences: the seeded list (UFDL's fourteen, in its order) and the site admins' changes
to it. Each licence names what it permits, requires and limits, and the domains it suits,
as lists of names ("sub-descriptors", in UFDL's words)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dataloft.core.access import Principal
from dataloft.core.accounts import licence_view
from dataloft.core.directory import by_number, require_admin
from dataloft.core.errors import Conflict, Invalid, Unauthenticated
from dataloft.core.query_filter import Field, QuerySpec, filtered
from dataloft.core.results import LicenceView
from dataloft.db import Database
from dataloft.db.models import Dataset, Licence

DESCRIPTORS = ("permissions", "conditions", "limitations", "domains")
MAX_NAME = 100
MAX_URL = 500
MAX_DESCRIPTORS = 100
LICENCE_FIELDS = {
    "pk": Field.integer(Licence.id),
    "id": Field.integer(Licence.id),
    "name": Field.text(Licence.name),
    "url": Field.text(Licence.url),
}


def _names(value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_DESCRIPTORS:
        raise Invalid(f"{field} must be a list of at most {MAX_DESCRIPTORS} names")
    names: list[str] = []
    for item in value:
        if not isinstance(item, str) or not 0 < len(item) <= MAX_NAME:
            raise Invalid(f"{field} holds names of 1 to {MAX_NAME} characters")
        if item not in names:
            names.append(item)
    return names


def _text(value: Any, field: str, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit or (field == "name" and not value):
        raise Invalid(f"{field} must be a string of at most {limit} characters")
    return value


class LicenceService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def listed(self, actor: Principal, spec: QuerySpec) -> list[LicenceView]:
        """The licences the filter matches (any logged-in user)."""
        if actor.is_anonymous:
            raise Unauthenticated("log in first")
        query = filtered(select(Licence), spec, LICENCE_FIELDS, inactive=None, order=Licence.id)
        with self.db.read() as session:
            return [licence_view(licence) for licence in session.scalars(query)]

    def create(self, actor: Principal, fields: Mapping[str, Any]) -> LicenceView:
        require_admin(actor)
        licence = Licence(name="", url="")
        self._apply(licence, fields)
        try:
            with self.db.write() as session:
                self._ensure_free(session, licence.name, None)
                session.add(licence)
                session.flush()
                return licence_view(licence)
        except IntegrityError:
            raise Conflict(f"a licence named {licence.name!r} exists") from None

    def update(self, actor: Principal, licence_id: int, fields: Mapping[str, Any]) -> LicenceView:
        require_admin(actor)
        with self.db.write() as session:
            licence = self._get(session, licence_id)
            self._apply(licence, fields)
            self._ensure_free(session, licence.name, licence.id)
            session.flush()
            return licence_view(licence)

    def edit_descriptors(
        self, actor: Principal, licence_id: int, kind: str, adding: bool, names: Iterable[str]
    ) -> LicenceView:
        """Add names to one of a licence's lists, or take them out."""
        require_admin(actor)
        if kind not in DESCRIPTORS:
            raise Invalid(f"type must be one of {', '.join(DESCRIPTORS)}, not {kind!r}")
        given = _names(list(names), "names")
        with self.db.write() as session:
            licence = self._get(session, licence_id)
            current = list(getattr(licence, kind))
            if adding:
                updated = current + [name for name in given if name not in current]
            else:
                updated = [name for name in current if name not in given]
            setattr(licence, kind, updated)
            session.flush()
            return licence_view(licence)

    def delete(self, actor: Principal, licence_id: int) -> None:
        """A licence some dataset names stays: the datasets would lose it silently."""
        require_admin(actor)
        with self.db.write() as session:
            licence = self._get(session, licence_id)
            if session.scalar(select(Dataset.id).where(Dataset.licence_id == licence.id)):
                raise Conflict(f"licence {licence.name!r} is in use by datasets")
            session.delete(licence)

    @staticmethod
    def _apply(licence: Licence, fields: Mapping[str, Any]) -> None:
        for key, value in fields.items():
            if key == "name":
                licence.name = _text(value, "name", MAX_NAME)
            elif key == "url":
                licence.url = _text(value, "url", MAX_URL)
            elif key in DESCRIPTORS:
                setattr(licence, key, _names(value, key))
            else:
                raise Invalid(f"unknown licence field {key!r}")

    @staticmethod
    def _get(session: Session, licence_id: int) -> Licence:
        return by_number(session, Licence, licence_id, "licence")

    @staticmethod
    def _ensure_free(session: Session, name: str, own_id: int | None) -> None:
        clash = session.scalar(select(Licence.id).where(func.lower(Licence.name) == name.lower()))
        if clash is not None and clash != own_id:
            raise Conflict(f"a licence named {name!r} exists")
