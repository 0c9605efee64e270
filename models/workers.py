"""The workers that are alive, and what each can train (its capabilities).

Each worker upserts its row when it starts and every heartbeat, and deletes it when it stops;
a worker that died stops being seen. The API validates and routes by the rows seen recently
(core/capabilities.py), so it never imports an optimizer or model package itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base
from models.tables import utcnow


class WorkerRecord(Base):
    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)  # host:pid:random
    hostname: Mapped[str] = mapped_column(String(255))
    queues: Mapped[list[str]] = mapped_column(JSON)  # the broker queues it consumes
    devices: Mapped[list[str]] = mapped_column(JSON)  # "cpu", and "cuda" when it has a GPU
    # every optimizer it can train, as engine.optimizer_defs.describe() writes it
    optimizers: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # every model it can train, as engine.model_defs.describe() writes it
    models: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, server_default="[]")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
