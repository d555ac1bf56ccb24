"""A test-only model whose table breaks the ``<plugin>_`` naming rule."""

from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class Misnamed(Base):
    """Its table should be called ``badprefix_...``."""

    __tablename__ = "spaces_without_prefix"

    id: Mapped[int] = mapped_column(primary_key=True)
