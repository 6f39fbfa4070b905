"""Users, teams, memberships, projects and licences.

Users and teams share one namespace of owner names, so that ``owner/name`` addresses stay
unambiguous if teams ever own datasets. Names that differ only in case are one name, and
reserved names (``RESERVED_NAMES``) are nobody's, so that no account passes for another or
for the server: the ``owner_names`` table holds each owner's name in lower case under one
primary key, which settles concurrent claims too. These rules, and the ASCII-only syntax of
``validate_username``, apply to names being made or renamed; older names stay as they are.
Team members hold a level R < X < W < A; team admins (A) manage members, writers (W) manage
projects. Site admins may do everything.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dataloft.core.access import Level, Principal
from dataloft.core.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from dataloft.core.events import EventLog
from dataloft.core.names import (
    FIRST_ADMIN,
    check_not_reserved,
    check_text,
    owner_key,
    validate_team_name,
    validate_username,
)
from dataloft.core.pagination import (
    MAX_LIMIT,
    ascii_natural,
    clamp_limit,
    decode_cursor,
    encode_cursor,
    every,
    is_row_id,
)
from dataloft.core.passwords import Passwords
from dataloft.core.results import LicenceView, MemberView, Page, ProjectView, TeamView, UserView
from dataloft.db import Database
from dataloft.db.models import (
    ApiToken,
    Dataset,
    Licence,
    Membership,
    OwnerName,
    Project,
    Team,
    User,
)
from dataloft.db.types import utcnow

_SELF_EDITABLE = {"email", "full_name", "password", "revoke_tokens"}
_ADMIN_EDITABLE = _SELF_EDITABLE | {"is_admin", "is_active"}


def user_view(user: User, *, private: bool = True) -> UserView:
    """``private=False`` hides what only the user and admins should see."""
    return UserView(
        id=user.id,
        username=user.username,
        email=user.email if private else None,
        full_name=user.full_name,
        is_admin=user.is_admin,
        is_active=user.is_active,
        created=user.created,
        last_login=user.last_login,
    )


def _member_view(team: Team, username: str, membership: Membership) -> MemberView:
    return MemberView(
        team=team.name, username=username, level=membership.level, created=membership.created
    )


def _team_view_of(team: Team, members: list[tuple[Membership, str]]) -> TeamView:
    """``members``: (membership, username) pairs, in username order."""
    return TeamView(
        id=team.id,
        name=team.name,
        description=team.description,
        created=team.created,
        members=[_member_view(team, username, m) for m, username in members],
    )


def _project_view(project: Project, team: Team) -> ProjectView:
    return ProjectView(
        id=project.id,
        team=team.name,
        name=project.name,
        description=project.description,
        created=project.created,
    )


def licence_view(licence: Licence) -> LicenceView:
    return LicenceView(
        id=licence.id,
        name=licence.name,
        url=licence.url,
        permissions=list(licence.permissions),
        conditions=list(licence.conditions),
        limitations=list(licence.limitations),
        domains=list(licence.domains),
    )


_TAKEN = "the name {name!r} is already taken by a user or team (case does not count)"


@contextmanager
def _claiming(name: str) -> Iterator[None]:
    """Where an owner's rows and name claim are flushed: a unique index refusing them means
    a concurrent request has just taken the name (the check before could not see it)."""
    try:
        yield
    except IntegrityError:
        raise Conflict(_TAKEN.format(name=name)) from None


def _describe_and_rename(
    item: Team | Project, changes: Mapping[str, Any], ensure_free: Callable[[str], None]
) -> None:
    """Apply a ``description`` and/or ``name`` change to a team or project."""
    if "description" in changes:
        item.description = check_text(changes["description"], "description", 10_000)
    if "name" in changes and changes["name"] != item.name:
        new_name = validate_team_name(check_text(changes["name"], "name", 100))
        ensure_free(new_name)
        item.name = new_name


def _check_renaming(changes: Mapping[str, Any], what: str) -> None:
    """Teams and projects change their description and name, nothing else."""
    unknown = set(changes) - {"description", "name"}
    if unknown:
        raise Invalid(f"unknown {what} fields: {', '.join(sorted(unknown))}")


def team_allows(actor: Principal, team_id: int, needed: Level) -> bool:
    """Whether ``actor`` holds at least ``needed`` in the team; site admins hold every level
    in every team. The one rule of team rights: the services below refuse by it, and pages
    offer by it only the forms the caller may use."""
    if actor.is_admin:
        return True
    level = actor.teams.get(team_id)
    return level is not None and level.at_least(needed)


def _require_login(actor: Principal) -> None:
    if actor.is_anonymous:
        raise Unauthenticated("log in first")


def _require_full_token(actor: Principal) -> None:
    _require_login(actor)
    if actor.scope is not None:
        raise Forbidden("this token may only read")


class AccountService:
    def __init__(
        self,
        db: Database,
        events: EventLog,
        passwords: Passwords,
        admin_users: Collection[str] = (),
    ) -> None:
        self.db = db
        self.events = events
        self.passwords = passwords
        # Usernames that are admins whenever their account exists (settings.admin_users).
        self.admin_users = frozenset(admin_users)

    def promote_admins(self) -> None:
        """Make the named admins admins (at start: their accounts may predate the setting)."""
        if not self.admin_users:
            return
        with self.db.write() as session:
            session.execute(
                update(User)
                .where(User.username.in_(sorted(self.admin_users)), User.is_admin.is_(False))
                .values(is_admin=True)
            )

    def external_user(self, username: str, email: object, *, admin: bool) -> tuple[int, bool]:
        """The id and admin flag of the user an external OpenID provider vouches for, made
        now (with no password: they log in there) if there is none. The provider's admin
        role makes an admin; it never takes the flag away (an admin here stays one)."""
        with self.db.read() as session:
            user = session.scalar(select(User).where(User.username == username))
            found = None if user is None else (user.id, user.is_admin, user.is_active)
        if found is None:
            mail = email if isinstance(email, str) and len(email) <= 320 else None
            try:
                made = self._insert_user(username, None, mail, None, admin)
            except Conflict:  # made at the same moment by another request of theirs
                return self.external_user(username, email, admin=admin)
            return made.id, made.is_admin
        user_id, is_admin, is_active = found
        if not is_active:
            raise Unauthenticated("this account is deactivated")
        if admin and not is_admin:
            with self.db.write() as session:
                session.execute(update(User).where(User.id == user_id).values(is_admin=True))
        return user_id, is_admin or admin

    # --- users -----------------------------------------------------------------------------

    def create_user(
        self,
        actor: Principal,
        username: str,
        password: str | None = None,
        *,
        email: str | None = None,
        full_name: str | None = None,
        is_admin: bool = False,
    ) -> UserView:
        _require_full_token(actor)
        if not actor.is_admin:
            raise Forbidden("only admins create users")
        return self._insert_user(username, password, email, full_name, is_admin)

    def register(self, username: str, password: str) -> UserView:
        """Self-service sign-up (for dialects whose users register themselves)."""
        return self._insert_user(username, password, None, None, False)

    def _insert_user(
        self,
        username: str,
        password: str | None,
        email: str | None,
        full_name: str | None,
        is_admin: bool,
    ) -> UserView:
        validate_username(username)
        if email is not None:
            check_text(email, "email", 320)
        if full_name is not None:
            check_text(full_name, "full_name", 200)
        password_hash = self.passwords.hash(password) if password is not None else None
        with self.db.write() as session:
            if username != FIRST_ADMIN or session.scalar(select(User.id).limit(1)) is not None:
                check_not_reserved(username)
            self._ensure_owner_name_free(session, username)
            user = User(
                username=username,
                password_hash=password_hash,
                email=email,
                full_name=full_name,
                is_admin=is_admin or username in self.admin_users,
                is_active=True,
            )
            with _claiming(username):
                session.add(user)
                session.flush()
                session.add(OwnerName(name=owner_key(username), user_id=user.id))
                session.flush()
            self.events.append(session, "user.create", {"username": username}, actor_id=user.id)
            return user_view(user)

    def count_users(self) -> int:
        with self.db.read() as session:
            return session.scalar(select(func.count()).select_from(User)) or 0

    def get_user(self, actor: Principal, username: str) -> UserView:
        _require_login(actor)
        with self.db.read() as session:
            user = self._user(session, username)
            return user_view(user, private=actor.is_admin or actor.user_id == user.id)

    def list_users(
        self, actor: Principal, limit: int | None = None, cursor: str | None = None
    ) -> Page[UserView]:
        _require_login(actor)
        if not actor.is_admin:
            raise Forbidden("only admins list users")
        size = clamp_limit(limit)
        query = select(User).order_by(User.username).limit(size + 1)
        if cursor:
            (after,) = decode_cursor(cursor, str)
            query = query.where(User.username > after)
        with self.db.read() as session:
            users = list(session.scalars(query))
        more = len(users) > size
        users = users[:size]
        return Page(
            [user_view(u) for u in users], encode_cursor(users[-1].username) if more else None
        )

    def iter_users(self, actor: Principal) -> Iterator[UserView]:
        """Every user ``list_users`` would list, page after page."""
        return every(lambda cursor: self.list_users(actor, MAX_LIMIT, cursor))

    def update_user(self, actor: Principal, username: str, changes: Mapping[str, Any]) -> UserView:
        _require_full_token(actor)
        with self.db.write() as session:
            user = self._user(session, username)
            allowed = _ADMIN_EDITABLE if actor.is_admin else _SELF_EDITABLE
            if not actor.is_admin and actor.user_id != user.id:
                raise Forbidden("you may only change your own account")
            unknown = set(changes) - allowed
            if unknown:
                raise Forbidden(f"you may not change {', '.join(sorted(unknown))}")
            self._apply_user_changes(session, actor, user, changes)
            user.updated = utcnow()
            return user_view(user)

    def _apply_user_changes(
        self, session: Session, actor: Principal, user: User, changes: Mapping[str, Any]
    ) -> None:
        for key, value in changes.items():
            if key == "password":
                user.password_hash = self.passwords.hash(check_text(value, "password", 1024))
                # Whoever logged in with the old password logs in again.
                session.execute(
                    delete(ApiToken).where(ApiToken.user_id == user.id, ApiToken.session)
                )
            elif key == "revoke_tokens":
                if not isinstance(value, bool):
                    raise Invalid("revoke_tokens must be true or false")
                if value:
                    session.execute(delete(ApiToken).where(ApiToken.user_id == user.id))
            elif key in ("email", "full_name"):
                limit = 320 if key == "email" else 200
                setattr(user, key, None if value is None else check_text(value, key, limit))
            elif key in ("is_admin", "is_active"):
                if not isinstance(value, bool):
                    raise Invalid(f"{key} must be true or false")
                if not value and user.is_admin and user.is_active:
                    self._keep_one_admin(session, user)
                setattr(user, key, value)
                self.events.append(
                    session,
                    "user.update",
                    {"username": user.username, key: value},
                    actor_id=actor.user_id,
                )

    @staticmethod
    def _keep_one_admin(session: Session, user: User) -> None:
        others = session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.is_admin.is_(True), User.is_active.is_(True), User.id != user.id)
        )
        if not others:
            raise Conflict("this is the last active admin; make another admin first")

    def deactivate_user(self, actor: Principal, username: str) -> UserView:
        """Users are never deleted (their versions name them as authors): deactivated
        accounts cannot log in and their tokens stop working."""
        return self.update_user(actor, username, {"is_active": False})

    # --- teams -----------------------------------------------------------------------------

    def create_team(
        self,
        actor: Principal,
        name: str,
        description: str = "",
        *,
        admin: str | None = None,
        join: bool = True,
    ) -> TeamView:
        """Any user may start a team and becomes its admin (level A). Site admins (and the
        CLI) may name another user, ``admin``, as the first team admin instead, or, with
        ``join=False``, make a team with no members yet (UFDL's way: admins make teams and
        then add members). Either way the team and its first admin are made in one
        transaction, so no failure (an unknown or deactivated user, a taken name) leaves a
        team without an admin."""
        _require_full_token(actor)
        check_not_reserved(validate_team_name(name))
        check_text(description, "description", 10_000)
        if admin is not None and admin != actor.username and not actor.is_admin:
            raise Forbidden("only site admins make someone else a team's first admin")
        if not join and not actor.is_admin:
            raise Forbidden("only site admins make a team without joining it")
        with self.db.write() as session:
            first_admin: User | None = None
            if admin is not None:
                first_admin = self._user(session, admin)
                if not first_admin.is_active:
                    raise Conflict(f"user {admin!r} is deactivated")
            self._ensure_owner_name_free(session, name)
            team = Team(name=name, description=description, created_by=actor.user_id)
            with _claiming(name):
                session.add(team)
                session.flush()
                session.add(OwnerName(name=owner_key(name), team_id=team.id))
                session.flush()
            self.events.append(session, "team.create", {"team": name}, actor_id=actor.user_id)
            if first_admin is not None:
                session.add(
                    Membership(
                        team_id=team.id,
                        user_id=first_admin.id,
                        level="A",
                        created_by=actor.user_id,
                    )
                )
                self.events.append(
                    session,
                    "team.member",
                    {"team": name, "username": first_admin.username, "level": "A"},
                    actor_id=actor.user_id,
                )
            elif actor.user_id is not None and join:
                session.add(
                    Membership(
                        team_id=team.id, user_id=actor.user_id, level="A", created_by=actor.user_id
                    )
                )
            session.flush()
            return self._team_view(session, team)

    def get_team(self, actor: Principal, name: str) -> TeamView:
        with self.db.read() as session:
            team = self._team_for(session, actor, name, Level.READ)
            return self._team_view(session, team)

    def list_teams(self, actor: Principal, *, members: bool = True) -> list[TeamView]:
        """Admins see every team; others the teams they belong to. With their members,
        loaded for all the teams at once (two queries however many teams there are)."""
        _require_login(actor)
        query = select(Team).where(Team.deleted_at.is_(None)).order_by(Team.name)
        member_query = (
            select(Membership, User.username)
            .join(User, User.id == Membership.user_id)
            .order_by(Membership.team_id, User.username)
        )
        if not actor.is_admin:
            mine = list(actor.teams)
            query = query.where(Team.id.in_(mine))
            member_query = member_query.where(Membership.team_id.in_(mine))
        with self.db.read() as session:
            teams = list(session.scalars(query))
            by_team: dict[int, list[tuple[Membership, str]]] = {team.id: [] for team in teams}
            if members and teams:
                for membership, username in session.execute(member_query).all():
                    # A team created since the first query may add members: not listed.
                    if membership.team_id in by_team:
                        by_team[membership.team_id].append((membership, username))
            return [_team_view_of(team, by_team[team.id]) for team in teams]

    def update_team(self, actor: Principal, name: str, changes: Mapping[str, Any]) -> TeamView:
        _require_full_token(actor)
        _check_renaming(changes, "team")
        with self.db.write() as session:
            team = self._team_for(session, actor, name, Level.ADMIN)
            _describe_and_rename(team, changes, lambda new: self._rename_team(session, team, new))
            session.flush()
            return self._team_view(session, team)

    def delete_team(self, actor: Principal, name: str) -> None:
        _require_full_token(actor)
        with self.db.write() as session:
            team = self._team_for(session, actor, name, Level.ADMIN)
            in_use = session.scalar(
                select(func.count())
                .select_from(Dataset)
                .join(Project, Project.id == Dataset.project_id)
                .where(Project.team_id == team.id)
            )
            if in_use:
                raise Conflict(
                    f"team {name!r} still has {in_use} dataset(s) in its projects; "
                    "move or delete them first"
                )
            session.delete(team)
            self.events.append(session, "team.delete", {"team": name}, actor_id=actor.user_id)

    # --- memberships -----------------------------------------------------------------------

    def list_members(self, actor: Principal, team_name: str) -> list[MemberView]:
        return self.get_team(actor, team_name).members

    def set_member(self, actor: Principal, team_name: str, username: str, level: str) -> MemberView:
        """Add a member or change their level (team admins and site admins)."""
        _require_full_token(actor)
        try:
            new_level = Level(level)
        except ValueError:
            raise Invalid(f"level must be one of R, X, W, A, not {level!r}") from None
        with self.db.write() as session:
            team = self._team_for(session, actor, team_name, Level.ADMIN)
            user = self._user(session, username)
            # The request is well formed; the account's state refuses it.
            if not user.is_active:
                raise Conflict(f"user {username!r} is deactivated")
            membership = session.get(Membership, (team.id, user.id))
            if membership is None:
                membership = Membership(
                    team_id=team.id,
                    user_id=user.id,
                    level=new_level.value,
                    created_by=actor.user_id,
                )
                session.add(membership)
            else:
                if membership.level == "A" and new_level is not Level.ADMIN and not actor.is_admin:
                    self._keep_one_team_admin(session, team, user)
                membership.level = new_level.value
            session.flush()
            self.events.append(
                session,
                "team.member",
                {"team": team.name, "username": username, "level": new_level.value},
                actor_id=actor.user_id,
            )
            return _member_view(team, username, membership)

    def remove_member(self, actor: Principal, team_name: str, username: str) -> None:
        _require_full_token(actor)
        with self.db.write() as session:
            user = self._user(session, username)
            # Members may always leave a team; removing others takes team admin rights.
            needed = Level.READ if actor.user_id == user.id else Level.ADMIN
            team = self._team_for(session, actor, team_name, needed)
            membership = session.get(Membership, (team.id, user.id))
            if membership is None:
                raise NotFound(f"{username!r} is not a member of team {team_name!r}")
            if membership.level == "A" and not actor.is_admin:
                self._keep_one_team_admin(session, team, user)
            session.delete(membership)
            self.events.append(
                session,
                "team.member",
                {"team": team.name, "username": username, "level": None},
                actor_id=actor.user_id,
            )

    @staticmethod
    def _keep_one_team_admin(session: Session, team: Team, user: User) -> None:
        """Team admins may not leave their team with no admin. Site admins may (they
        manage every team; UFDL's teams are theirs to staff), so they skip this."""
        others = session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(
                Membership.team_id == team.id,
                Membership.level == "A",
                Membership.user_id != user.id,
            )
        )
        if not others:
            raise Conflict(f"{user.username!r} is the last admin of team {team.name!r}")

    # --- projects --------------------------------------------------------------------------

    def create_project(
        self, actor: Principal, team_name: str, name: str, description: str = ""
    ) -> ProjectView:
        _require_full_token(actor)
        validate_team_name(name)
        check_text(description, "description", 10_000)
        with self.db.write() as session:
            team = self._team_for(session, actor, team_name, Level.WRITE)
            self._ensure_project_name_free(session, team, name)
            project = Project(
                team_id=team.id, name=name, description=description, created_by=actor.user_id
            )
            session.add(project)
            session.flush()
            return _project_view(project, team)

    def list_projects(self, actor: Principal, team_name: str) -> list[ProjectView]:
        with self.db.read() as session:
            team = self._team_for(session, actor, team_name, Level.READ)
            projects = session.scalars(
                select(Project)
                .where(Project.team_id == team.id, Project.deleted_at.is_(None))
                .order_by(Project.name)
            )
            return [_project_view(p, team) for p in projects]

    def writable_projects(self, actor: Principal, limit: int = MAX_LIMIT) -> list[ProjectView]:
        """The projects ``actor`` may put datasets in (``resolve_project``'s rule): those of
        the teams where they hold W or A, every team's for site admins; by team and project
        name, at most ``limit`` of them, in one query however many teams."""
        _require_login(actor)
        query = (
            select(Project, Team)
            .join(Team, Team.id == Project.team_id)
            .where(Project.deleted_at.is_(None), Team.deleted_at.is_(None))
            .order_by(Team.name, Project.name)
            .limit(clamp_limit(limit))
        )
        if not actor.is_admin:
            teams = [team for team in actor.teams if team_allows(actor, team, Level.WRITE)]
            if not teams:
                return []
            query = query.where(Project.team_id.in_(teams))
        with self.db.read() as session:
            return [_project_view(project, team) for project, team in session.execute(query)]

    def get_project(self, actor: Principal, team_name: str, name: str) -> ProjectView:
        with self.db.read() as session:
            team = self._team_for(session, actor, team_name, Level.READ)
            return _project_view(self._project(session, team, name), team)

    def update_project(
        self, actor: Principal, team_name: str, name: str, changes: Mapping[str, Any]
    ) -> ProjectView:
        _require_full_token(actor)
        _check_renaming(changes, "project")
        with self.db.write() as session:
            team = self._team_for(session, actor, team_name, Level.WRITE)
            project = self._project(session, team, name)
            _describe_and_rename(
                project, changes, lambda new: self._ensure_project_name_free(session, team, new)
            )
            session.flush()
            return _project_view(project, team)

    def delete_project(self, actor: Principal, team_name: str, name: str) -> None:
        _require_full_token(actor)
        with self.db.write() as session:
            team = self._team_for(session, actor, team_name, Level.WRITE)
            project = self._project(session, team, name)
            in_use = session.scalar(
                select(func.count()).select_from(Dataset).where(Dataset.project_id == project.id)
            )
            if in_use:
                raise Conflict(f"project {name!r} still holds {in_use} dataset(s)")
            session.delete(project)

    def resolve_project(self, session: Session, actor: Principal, ref: str) -> Project:
        """``team/project`` -> the project, which the actor must be able to write into."""
        team_name, _, name = ref.partition("/")
        if not team_name or not name:
            raise Invalid(f"project must be given as 'team/project', not {ref!r}")
        team = self._team_for(session, actor, team_name, Level.WRITE)
        return self._project(session, team, name)

    # --- licences --------------------------------------------------------------------------

    def list_licences(self) -> list[LicenceView]:
        with self.db.read() as session:
            return [
                licence_view(lic) for lic in session.scalars(select(Licence).order_by(Licence.id))
            ]

    def get_licence(self, key: str | int) -> LicenceView:
        with self.db.read() as session:
            return licence_view(self.resolve_licence(session, key))

    @staticmethod
    def resolve_licence(session: Session, key: str | int) -> Licence:
        query = select(Licence)
        number = key if isinstance(key, int) else ascii_natural(key)
        if number is not None:
            licence = (
                session.scalar(query.where(Licence.id == number)) if is_row_id(number) else None
            )
        else:
            name = str(key)
            licence = session.scalar(query.where(func.lower(Licence.name) == name.lower()))
        if licence is None:
            raise NotFound(f"licence {key!r} not found")
        return licence

    # --- shared lookups --------------------------------------------------------------------

    @staticmethod
    def _user(session: Session, username: str) -> User:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFound(f"user {username!r} not found")
        return user

    @staticmethod
    def _project(session: Session, team: Team, name: str) -> Project:
        project = session.scalar(
            select(Project).where(
                Project.team_id == team.id, Project.name == name, Project.deleted_at.is_(None)
            )
        )
        if project is None:
            raise NotFound(f"project {team.name}/{name} not found")
        return project

    @staticmethod
    def _team_for(session: Session, actor: Principal, name: str, needed: Level) -> Team:
        """The team, if the actor holds at least ``needed`` in it (or is a site admin).
        Non-members get NotFound: team names are not advertised to strangers."""
        _require_login(actor)
        team = session.scalar(select(Team).where(Team.name == name))
        if team is None or (team.id not in actor.teams and not actor.is_admin):
            raise NotFound(f"team {name!r} not found")
        if not team_allows(actor, team.id, needed):
            raise Forbidden(f"this needs level {needed.value} in team {name!r}")
        return team

    @staticmethod
    def _ensure_project_name_free(session: Session, team: Team, name: str) -> None:
        if session.scalar(
            select(Project.id).where(
                Project.team_id == team.id, Project.name == name, Project.deleted_at.is_(None)
            )
        ):
            raise Conflict(f"team {team.name!r} already has a project {name!r}")

    @staticmethod
    def _ensure_owner_name_free(session: Session, name: str, team: Team | None = None) -> None:
        """Refuse a name a user or team (other than ``team``) holds in any case. The
        primary key of ``owner_names`` enforces the same when two claims race."""
        holder = session.get(OwnerName, owner_key(name))
        if holder is not None and (team is None or holder.team_id != team.id):
            raise Conflict(_TAKEN.format(name=name))

    def _rename_team(self, session: Session, team: Team, new_name: str) -> None:
        """Move the team's claim to ``new_name`` (another case of its own name included).
        A team made before names ignored case may hold no claim: it gets one now."""
        check_not_reserved(new_name)
        self._ensure_owner_name_free(session, new_name, team)
        with _claiming(new_name):
            session.execute(delete(OwnerName).where(OwnerName.team_id == team.id))
            session.add(OwnerName(name=owner_key(new_name), team_id=team.id))
            session.flush()

    @staticmethod
    def _team_view(session: Session, team: Team) -> TeamView:
        rows = session.execute(
            select(Membership, User.username)
            .join(User, User.id == Membership.user_id)
            .where(Membership.team_id == team.id)
            .order_by(User.username)
        ).all()
        return _team_view_of(team, [(m, username) for m, username in rows])
