"""Settings section owned by the knowledge package: ``[knowledge]``."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class KnowledgeSettings(BaseModel):
    """Where the template and ideas come from and where the vector store lives."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    template: Path | None = Field(default=None, description="attribute template YAML; unset: the shipped 15/55 one")
    ideas: list[Path] = Field(
        default_factory=list, description="idea bank YAML files; empty: the shipped starter ideas"
    )
    store_dir: Path | None = Field(
        default=None, description="Chroma folder; unset: knowledge/ inside the run directory"
    )
    chroma_url: str | None = Field(
        default=None, description="a Chroma server (http://host:port) shared by a team, instead of a folder"
    )
    embedding_model: str = Field(
        default="bundled",
        description="sentence-transformers model name or folder; bundled: all-MiniLM-L6-v2 shipped offline",
    )
