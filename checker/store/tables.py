"""The tables. Their history is in migrations/versions; a change here needs a new revision."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, Float, Index, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class JtiSeen(Base):
    """A CDS client's token id, until its token expires. `key` is a digest of (issuer, jti), so
    the primary key is the replay check and the column has a fixed width whatever clients send."""

    __tablename__ = "jti_seen"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    exp: Mapped[float] = mapped_column(Float, index=True)  # unix seconds, leeway included


class Card(Base):
    """Which rule a CDS card showed: feedback names only the card's uuid."""

    __tablename__ = "card"
    uuid: Mapped[str] = mapped_column(String(200), primary_key=True)
    rule: Mapped[str] = mapped_column(String(200))


class CardMerged(Base):
    """The other rules a CDS card stands for: the rules of the findings merged into its finding
    (checker.merge, `evidence.merged`), so feedback on the card counts for each of them too."""

    __tablename__ = "card_merged"
    uuid: Mapped[str] = mapped_column(String(200), primary_key=True)
    rule: Mapped[str] = mapped_column(String(200), primary_key=True)


class Feedback(Base):
    """One CDS Hooks feedback item: the card, what was done, the coded override reason."""

    __tablename__ = "feedback"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=False), index=True)  # UTC
    service: Mapped[str] = mapped_column(String(64))
    card: Mapped[str] = mapped_column(String(200), index=True)
    rule: Mapped[str | None] = mapped_column(String(200), nullable=True)  # when known on arrival
    outcome: Mapped[str] = mapped_column(String(16))  # accepted | overridden
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)  # a code, never text


class Shown(Base):
    """How many times a rule's finding or card was served, per UTC day."""

    __tablename__ = "shown"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    rule: Mapped[str] = mapped_column(String(200), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class Outcome(Base):
    """What a pharmacist recorded on a finding in the pages: acted on, or overridden because …"""

    __tablename__ = "outcome"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=False), index=True)  # UTC
    rule: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(16))  # acted_on | overridden
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)


Index("ix_outcome_rule", Outcome.rule)
