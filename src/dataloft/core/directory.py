"""Accounts by number: users, teams, memberships and projects looked up by their ids,
with the lifecycle UFDL gives teams and projects (taken out of use, put back, removed for
good). The rules of who may do what are ``AccountService``'s, which this builds on; what
is added here is the numbered view of the same rows, and soft deletion.

A team taken out of use keeps its name and its memberships, but they grant nothing
(``core/auth.py`` reads levels of live teams only), so only site admins see it; putting it
back restores them. A project taken out of use takes its live datasets with it (each a
soft delete of its own, with its event); putting the project back leaves them deleted, as
UFDL does, since some may have been deleted on purpose before.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from dataloft.core.access import Level, Principal
from dataloft.core.accounts import AccountService, user_view
from dataloft.core.datasets import DatasetService
from dataloft.core.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from dataloft.core.events import EventLog
from dataloft.core.names import validate_team_name
from dataloft.core.pagination import is_row_id
from dataloft.core.query_filter import Field, QuerySpec, filtered
from dataloft.core.results import (
    DomainRecord,
    MembershipRecord,
    ProjectRecord,
    TeamRecord,
    UserView,
)
from dataloft.db import Database
from dataloft.db.models import Base, Dataset, Domain, Membership, Project, Team, User

# What a filter may name, per kind of row (UFDL's field names).
USER_FIELDS = {
    "pk": Field.integer(User.id),
    "id": Field.integer(User.id),
    "username": Field.text(User.username),
    "email": Field.text(User.email, nullable=True),
    "is_active": Field.boolean(User.is_active),
    "is_staff": Field.boolean(User.is_admin),
    "is_superuser": Field.boolean(User.is_admin),
    "date_joined": Field.moment(User.created),
    "last_login": Field.moment(User.last_login, nullable=True),
}
TEAM_FIELDS = {
    "pk": Field.integer(Team.id),
    "id": Field.integer(Team.id),
    "name": Field.text(Team.name),
    "creator": Field.integer(Team.created_by, nullable=True),
    "creation_time": Field.moment(Team.created),
    "deletion_time": Field.moment(Team.deleted_at, nullable=True),
}
_PROJECT_TEAM = Team.__table__.alias("project_team")
PROJECT_FIELDS = {
    "pk": Field.integer(Project.id),
    "id": Field.integer(Project.id),
    "name": Field.text(Project.name),
    "team": Field.integer(Project.team_id),
    "team.pk": Field.integer(Project.team_id),
    "team.name": Field.text(_PROJECT_TEAM.c.name),
    "team.deletion_time": Field.moment(_PROJECT_TEAM.c.deleted_at, nullable=True),
    "creator": Field.integer(Project.created_by, nullable=True),
    "creation_time": Field.moment(Project.created),
    "deletion_time": Field.moment(Project.deleted_at, nullable=True),
}
DOMAIN_FIELDS = {
    "pk": Field.integer(Domain.id),
    "id": Field.integer(Domain.id),
    "name": Field.text(Domain.code),
    "description": Field.text(Domain.description),
}


def project_record(project: Project) -> ProjectRecord:
    return ProjectRecord(
        id=project.id,
        name=project.name,
        team_id=project.team_id,
        created=project.created,
        created_by=project.created_by,
        deleted_at=project.deleted_at,
    )


def membership_record(
    membership: Membership, username: str, deleted_at: datetime | None = None
) -> MembershipRecord:
    return MembershipRecord(
        team_id=membership.team_id,
        user_id=membership.user_id,
        username=username,
        level=membership.level,
        created=membership.created,
        created_by=membership.created_by,
        deleted_at=deleted_at,
    )


def _login(actor: Principal) -> None:
    if actor.is_anonymous:
        raise Unauthenticated("log in first")


def require_admin(actor: Principal, *, writes: bool = True) -> None:
    """A site admin, with a token that may write when ``writes``."""
    _login(actor)
    if not actor.is_admin:
        raise Forbidden("only site admins may do this")
    if writes and actor.scope is not None:
        raise Forbidden("this token may only read")


def _level(actor: Principal, team_id: int, needed: Level, what: str) -> None:
    """The actor holds ``needed`` in the team (site admins always do). Those who are not
    members at all get ``NotFound``: a team is not shown to strangers."""
    _login(actor)
    if needed is not Level.READ and actor.scope is not None:
        raise Forbidden("this token may only read")
    if actor.is_admin:
        return
    level = actor.teams.get(team_id)
    if level is None:
        raise NotFound(f"{what} not found")
    if not level.at_least(needed):
        raise Forbidden(f"this needs level {needed.value} in the team of {what}")


M = TypeVar("M", bound=Base)


def by_number(session: Session, model: type[M], number: int, what: str, *, lock: bool = False) -> M:
    """The row of ``model`` whose id is ``number`` (locked for update with ``lock``), or
    ``NotFound`` naming it as ``what``."""
    found = None
    if is_row_id(number):
        query = select(model).where(model.__table__.c.id == number)
        found = session.scalar(query.with_for_update() if lock else query)
    if found is None:
        raise NotFound(f"{what} {number} not found")
    return found


class Directory:
    def __init__(
        self,
        db: Database,
        events: EventLog,
        accounts: AccountService,
        datasets: DatasetService,
        clock: Callable[[], datetime],
    ) -> None:
        self.db = db
        self.events = events
        self.accounts = accounts
        self.datasets = datasets
        self.clock = clock

    # --- users -----------------------------------------------------------------------------

    def user(self, actor: Principal, user_id: int) -> UserView:
        """Users see themselves; site admins see everyone."""
        _login(actor)
        if not actor.is_admin and actor.user_id != user_id:
            raise Forbidden("only site admins may see other users")
        with self.db.read() as session:
            return user_view(by_number(session, User, user_id, "user"))

    def user_named(self, actor: Principal, username: str) -> UserView:
        _login(actor)
        if not actor.is_admin and actor.username != username:
            raise Forbidden("only site admins may see other users")
        with self.db.read() as session:
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                raise NotFound(f"user {username!r} not found")
            return user_view(user)

    def users(self, actor: Principal, spec: QuerySpec) -> list[UserView]:
        """Every user the filter matches (site admins only); deactivated ones only when
        it includes inactive rows."""
        require_admin(actor, writes=False)
        query = filtered(select(User), spec, USER_FIELDS, inactive=~User.is_active, order=User.id)
        with self.db.read() as session:
            return [user_view(user) for user in session.scalars(query)]

    # --- teams -----------------------------------------------------------------------------

    def teams(self, actor: Principal, spec: QuerySpec) -> list[TeamRecord]:
        """The teams the actor belongs to (site admins: all) that the filter matches."""
        _login(actor)
        query = select(Team)
        if not actor.is_admin:
            query = query.where(Team.id.in_(list(actor.teams)))
        query = filtered(
            query, spec, TEAM_FIELDS, inactive=Team.deleted_at.is_not(None), order=Team.id
        )
        with self.db.read() as session:
            return self._team_records(session, list(session.scalars(query)))

    def team(self, actor: Principal, team_id: int) -> TeamRecord:
        """Members (any level) and site admins."""
        with self.db.read() as session:
            team = self._team(session, team_id)
            _level(actor, team.id, Level.READ, f"team {team_id}")
            return self._team_records(session, [team])[0]

    def team_name(self, actor: Principal, team_id: int, needed: Level) -> str:
        """The name of a team the actor holds ``needed`` in (to call ``AccountService``)."""
        with self.db.read() as session:
            team = self._team(session, team_id)
            _level(actor, team.id, needed, f"team {team_id}")
            return team.name

    def retire_team(self, actor: Principal, team_id: int) -> None:
        """Take a team out of use (its admins, and site admins)."""
        with self.db.write() as session:
            team = self._team(session, team_id, lock=True)
            _level(actor, team.id, Level.ADMIN, f"team {team_id}")
            if team.deleted_at is None:
                team.deleted_at = self.clock()
                self.events.append(
                    session, "team.retire", {"team": team.name}, actor_id=actor.user_id
                )

    def reinstate_team(self, actor: Principal, team_id: int) -> TeamRecord:
        require_admin(actor)
        with self.db.write() as session:
            team = self._team(session, team_id, lock=True)
            if team.deleted_at is not None:
                team.deleted_at = None
                self.events.append(
                    session, "team.reinstate", {"team": team.name}, actor_id=actor.user_id
                )
            session.flush()
            return self._team_records(session, [team])[0]

    def purge_team(self, actor: Principal, team_id: int) -> TeamRecord:
        """Delete a team for good (site admins): ``AccountService.delete_team``'s rules."""
        require_admin(actor)
        found = self.team(actor, team_id)
        self.accounts.delete_team(actor, found.name)
        return found

    def membership(self, actor: Principal, team_id: int, username: str) -> MembershipRecord:
        """A member's membership, asked by the team's admins."""
        with self.db.read() as session:
            team = self._team(session, team_id)
            _level(actor, team.id, Level.ADMIN, f"team {team_id}")
            row = session.execute(
                select(Membership, User.username)
                .join(User, User.id == Membership.user_id)
                .where(Membership.team_id == team.id, User.username == username)
            ).first()
            if row is None:
                raise Invalid(f"{username!r} is not a current member of team {team.name!r}")
            return membership_record(row[0], row[1])

    def has_member(self, team_id: int, username: str) -> bool:
        with self.db.read() as session:
            return (
                session.scalar(
                    select(Membership.user_id)
                    .join(User, User.id == Membership.user_id)
                    .where(Membership.team_id == team_id, User.username == username)
                )
                is not None
            )

    # --- projects --------------------------------------------------------------------------

    def projects(self, actor: Principal, spec: QuerySpec) -> list[ProjectRecord]:
        """The projects of the actor's teams (site admins: all) that the filter matches."""
        _login(actor)
        query = select(Project).join(_PROJECT_TEAM, _PROJECT_TEAM.c.id == Project.team_id)
        if not actor.is_admin:
            query = query.where(Project.team_id.in_(list(actor.teams)))
        query = filtered(
            query,
            spec,
            PROJECT_FIELDS,
            inactive=Project.deleted_at.is_not(None),
            order=Project.id,
        )
        with self.db.read() as session:
            return [project_record(project) for project in session.scalars(query)]

    def project(self, actor: Principal, project_id: int) -> ProjectRecord:
        with self.db.read() as session:
            project = self._project(session, project_id)
            _level(actor, project.team_id, Level.READ, f"project {project_id}")
            return project_record(project)

    def team_of_project(self, project_id: Any) -> int:
        """The team of a live project, for a body that names it (UFDL's words if none)."""
        with self.db.read() as session:
            project = (
                session.get(Project, project_id)
                if isinstance(project_id, int) and is_row_id(project_id)
                else None
            )
            if project is None or project.deleted_at is not None:
                raise Invalid(f'project: Invalid pk "{project_id}" - object does not exist.')
            return project.team_id

    def create_project(self, actor: Principal, team_id: int, name: str) -> ProjectRecord:
        """W or A members of the team, and site admins (``AccountService``'s rule)."""
        team_name = self.team_name(actor, team_id, Level.WRITE)
        made = self.accounts.create_project(actor, team_name, name)
        return self.project(actor, made.id)

    def update_project(
        self, actor: Principal, project_id: int, name: str | None, team_id: int | None
    ) -> ProjectRecord:
        """Rename a project or move it to another team: W in its team, and in the team it
        moves to (UFDL asked the first only, so a writer could move a team's project, and
        its datasets, into a team they do not belong to)."""
        with self.db.write() as session:
            project = self._project(session, project_id, lock=True)
            _level(actor, project.team_id, Level.WRITE, f"project {project_id}")
            if team_id is not None and team_id != project.team_id:
                destination = self._team(session, team_id)
                _level(actor, destination.id, Level.WRITE, f"team {team_id}")
                project.team_id = destination.id
            if name is not None and name != project.name:
                project.name = validate_team_name(name)
            self._check_free(session, project)
            session.flush()
            return project_record(project)

    def retire_project(self, actor: Principal, project_id: int) -> None:
        """Take a project out of use, with its live datasets (W in its team)."""
        with self.db.write() as session:
            project = self._project(session, project_id, lock=True)
            _level(actor, project.team_id, Level.WRITE, f"project {project_id}")
            if project.deleted_at is not None:
                return
            now = self.clock()
            project.deleted_at = now
            live = session.scalars(
                select(Dataset.id).where(
                    Dataset.project_id == project.id, Dataset.deleted_at.is_(None)
                )
            ).all()
            for dataset_id in live:
                self.datasets.retire_in(session, actor, dataset_id, now)

    def reinstate_project(self, actor: Principal, project_id: int) -> ProjectRecord:
        require_admin(actor)
        with self.db.write() as session:
            project = self._project(session, project_id, lock=True)
            if project.deleted_at is not None:
                project.deleted_at = None
                self._check_free(session, project)
            session.flush()
            return project_record(project)

    def purge_project(self, actor: Principal, project_id: int) -> ProjectRecord:
        """Delete a project for good (site admins); one that still holds datasets, live or
        deleted, is refused."""
        require_admin(actor)
        with self.db.write() as session:
            project = self._project(session, project_id, lock=True)
            found = project_record(project)
            held = session.scalar(select(Dataset.id).where(Dataset.project_id == project.id))
            if held is not None:
                raise Conflict(f"project {project.name!r} still holds datasets")
            session.delete(project)
            return found

    # --- domains ---------------------------------------------------------------------------

    def domain(self, actor: Principal, domain_id: int) -> DomainRecord:
        _login(actor)
        with self.db.read() as session:
            domain = by_number(session, Domain, domain_id, "domain")
            return DomainRecord(domain.id, domain.code, domain.description)

    def domains(self, actor: Principal, spec: QuerySpec) -> list[DomainRecord]:
        _login(actor)
        query = filtered(select(Domain), spec, DOMAIN_FIELDS, inactive=None, order=Domain.id)
        with self.db.read() as session:
            return [DomainRecord(d.id, d.code, d.description) for d in session.scalars(query)]

    # --- lookups ---------------------------------------------------------------------------

    @staticmethod
    def _team(session: Session, team_id: int, *, lock: bool = False) -> Team:
        return by_number(session, Team, team_id, "team", lock=lock)

    @staticmethod
    def _project(session: Session, project_id: int, *, lock: bool = False) -> Project:
        return by_number(session, Project, project_id, "project", lock=lock)

    @staticmethod
    def _check_free(session: Session, project: Project) -> None:
        """A live project's name is unique in its team (checked before the index refuses
        it, so that the caller is told which name)."""
        if project.deleted_at is not None:
            return
        clash = session.scalar(
            select(Project.id).where(
                Project.team_id == project.team_id,
                Project.name == project.name,
                Project.deleted_at.is_(None),
                Project.id != project.id,
            )
        )
        if clash is not None:
            raise Conflict(f"the team already has a project {project.name!r}")

    @staticmethod
    def _team_records(session: Session, teams: list[Team]) -> list[TeamRecord]:
        """The teams with their members (id, username; by username), in two queries
        however many teams there are."""
        members: dict[int, list[tuple[int, str]]] = {team.id: [] for team in teams}
        if teams:
            rows = session.execute(
                select(Membership.team_id, User.id, User.username)
                .join(User, User.id == Membership.user_id)
                .where(Membership.team_id.in_(list(members)))
                .order_by(User.username)
            )
            for team_id, user_id, username in rows:
                members[team_id].append((user_id, username))
        return [
            TeamRecord(
                id=team.id,
                name=team.name,
                created=team.created,
                created_by=team.created_by,
                deleted_at=team.deleted_at,
                members=members[team.id],
            )
            for team in teams
        ]
