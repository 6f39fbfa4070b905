"""How named datasets are found: the one query that locates one by number (``Where``),
the fields UFDL's filters may name, and the view every answer is made of. Used by
``core/named_versions.py``."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import aliased

from dataloft.core.errors import Conflict
from dataloft.core.named_files import FileRow
from dataloft.core.query_filter import Field
from dataloft.core.results import NamedDatasetView
from dataloft.db.models import Dataset, Domain, Licence, NamedVersion, Project, Team, User

OWNING_TEAM = aliased(Team, name="owning_team")
CREATOR = aliased(User, name="creator")
PROJECT = aliased(Project, name="dataset_project")
LICENCE = aliased(Licence, name="dataset_licence")
DOMAIN = aliased(Domain, name="dataset_domain")

WHERE_QUERY = (
    select(
        User.username,
        Dataset.name,
        Project.team_id,
        Dataset.visibility,
        Domain.code,
        Dataset.uid,
        Dataset.deleted_at,
    )
    .select_from(NamedVersion)
    .join(Dataset, Dataset.id == NamedVersion.dataset_id)
    .join(User, User.id == Dataset.owner_id)
    .outerjoin(Project, Project.id == Dataset.project_id)
    .outerjoin(Domain, Domain.id == NamedVersion.domain_id)
    .where(NamedVersion.dataset_id == bindparam("dataset_id"))
)

DATASET_FIELDS = {
    "pk": Field.integer(Dataset.id),
    "id": Field.integer(Dataset.id),
    "name": Field.text(NamedVersion.name),
    "version": Field.integer(NamedVersion.version),
    "previous_version": Field.integer(NamedVersion.previous_version),
    "description": Field.text(Dataset.description),
    "is_public": Field.boolean(Dataset.visibility == "public"),
    "project": Field.integer(Dataset.project_id, nullable=True),
    "project.pk": Field.integer(Dataset.project_id, nullable=True),
    "project.name": Field.text(PROJECT.name, nullable=True),
    "project.team": Field.integer(PROJECT.team_id, nullable=True),
    "project.team.pk": Field.integer(PROJECT.team_id, nullable=True),
    "project.team.name": Field.text(OWNING_TEAM.name, nullable=True),
    "project.team.deletion_time": Field.moment(OWNING_TEAM.deleted_at, nullable=True),
    "team": Field.integer(PROJECT.team_id, nullable=True),
    "team.name": Field.text(OWNING_TEAM.name, nullable=True),
    "licence": Field.integer(Dataset.licence_id, nullable=True),
    "licence.pk": Field.integer(Dataset.licence_id, nullable=True),
    "licence.name": Field.text(LICENCE.name, nullable=True),
    "domain": Field.text(DOMAIN.description, nullable=True),
    "domain.name": Field.text(DOMAIN.code, nullable=True),
    "creator": Field.integer(Dataset.owner_id),
    "creator.pk": Field.integer(Dataset.owner_id),
    "creator.username": Field.text(CREATOR.username),
    "creation_time": Field.moment(Dataset.created),
    "deletion_time": Field.moment(Dataset.deleted_at, nullable=True),
}


@dataclass(frozen=True)
class Where:
    """Where a named dataset is, for the caller's rules and the core's address."""

    owner: str
    name: str  # the core name
    team_id: int | None
    public: bool
    domain: str | None  # the domain's code
    uid: str
    deleted: bool

    def address(self) -> tuple[str, str]:
        """The core's address of a live dataset. A deleted one's core name may be taken
        since by another dataset of its owner, so nothing is asked of it by address."""
        if self.deleted:
            raise Conflict("the dataset is deleted: reinstate it first")
        return self.owner, self.name


def view_of(
    dataset: Dataset, named: NamedVersion, domain: str | None, files: list[FileRow]
) -> NamedDatasetView:
    return NamedDatasetView(
        id=dataset.id,
        name=named.name,
        version=named.version,
        previous_version=named.previous_version,
        description=dataset.description,
        project_id=dataset.project_id,
        licence_id=dataset.licence_id,
        public=dataset.visibility == "public",
        domain=domain,
        tags=list(dataset.tags),
        creator=dataset.owner_id,
        created=dataset.created,
        deleted_at=dataset.deleted_at,
        files=files,
    )
