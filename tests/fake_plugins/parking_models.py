"""Models of the test-only ``parking`` plugin (used to exercise the migration machinery)."""

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class ParkingSpace(Base):
    """A parking space; exists only in tests."""

    __tablename__ = "parking_spaces"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    zone: Mapped[str] = mapped_column(String(50), index=True)
