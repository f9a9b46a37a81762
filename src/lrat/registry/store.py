"""The registered model ``lrat-retriever`` and its aliases in MLflow (a local SQLite store or a tracking server).

Alias moves are ordered so that a process killed between two registry calls always leaves one valid
``champion``: an alias move is a single call that re-points it (never delete-then-set), and ``previous`` is set
before ``champion`` moves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lrat.errors import UsageError

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous"
REPLACED_TAG = "promotion.replaced"  # on a promoted version: the champion it replaced (rollback's next target)


class RegistryError(UsageError, RuntimeError):
    """The registry cannot do what was asked (no such alias, run or version): a usage error, exit 2."""


@dataclass(frozen=True)
class Version:
    name: str
    version: str
    run_id: str | None
    source: str
    tags: dict[str, str] = field(default_factory=dict)
    description: str = ""
    aliases: tuple[str, ...] = ()

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    def brief(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "uri": self.uri, "run_id": self.run_id,
                "aliases": list(self.aliases)}


def _version(mv: Any, aliases: tuple[str, ...] = ()) -> Version:
    return Version(mv.name, str(mv.version), mv.run_id or None, mv.source or "", dict(mv.tags or {}),
                   mv.description or "", tuple(getattr(mv, "aliases", None) or aliases))


def redact(uri: str) -> str:
    """A tracking URI safe to show (messages, reports): `lrat.tracking.display_uri` from the working directory,
    so no user:password part and no absolute path."""
    from lrat.tracking import display_uri

    return display_uri(uri)


class Registry:
    """One registered model: its versions, aliases, and the moves promotion and rollback make."""

    def __init__(self, name: str, client: Any = None) -> None:
        if client is None:
            from mlflow import MlflowClient

            from lrat.tracking import use_store

            uri = use_store()
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        self.name, self.client = name, client

    # reading -----------------------------------------------------------------------------------------------------

    def _model(self) -> Any | None:
        """The registered model, or None before its first version."""
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_registered_model(self.name)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise

    def exists(self) -> bool:
        return self._model() is not None

    def aliases(self) -> dict[str, str]:
        """alias → version; empty when the model is not registered yet."""
        model = self._model()
        return {} if model is None else {a: str(v) for a, v in (model.aliases or {}).items()}

    def get(self, version: str) -> Version:
        from mlflow.exceptions import MlflowException

        try:
            mv = self.client.get_model_version(self.name, str(version))
        except MlflowException as exc:
            raise RegistryError(f"{self.name} has no version {version}") from exc
        return _version(mv)

    def by_alias(self, alias: str) -> Version | None:
        version = self.aliases().get(alias)
        return None if version is None else self.get(version)

    def find(self, **tags: str) -> Version | None:
        """The oldest version whose tags hold all of ``tags`` (``run_id`` matches the source run)."""
        if not self.exists():
            return None
        clauses = [f"name = '{self.name}'"]
        for key, value in tags.items():
            clauses.append(f"run_id = '{value}'" if key == "run_id" else f"tags.`{key}` = '{value}'")
        found = self.client.search_model_versions(" and ".join(clauses))
        if not found:
            return None
        return self.get(str(min(int(mv.version) for mv in found)))

    # writing -----------------------------------------------------------------------------------------------------

    def ensure_model(self, description: str = "") -> None:
        if not self.exists():
            self.client.create_registered_model(self.name, description=description or None)

    def register(self, model_uri: str, run_id: str | None, tags: dict[str, str], description: str,
                 key: dict[str, str] | None = None) -> tuple[Version, bool]:
        """A version for ``model_uri``, or the existing one with the same identity (``key``, default: the source
        run); ``(version, created)``. Tags and description are (re)applied either way, so a registration killed
        half-way is completed by the next call."""
        key = key or ({"run_id": run_id} if run_id else {})
        if not key:
            raise ValueError("registering needs a source run or an identity tag")
        existing = self.find(**key)
        if existing is None:
            self.ensure_model("Retrievers learned from search-agent trajectories (LRAT).")
            tags = {**tags, **{k: v for k, v in key.items() if k != "run_id"}}
            model_id = self._logged_model(model_uri, run_id)
            if model_id is not None:  # MLflow 3: the run's one LoggedModel, registered with the run's id kept
                mv = self.client.create_model_version(self.name, f"models:/{model_id}", run_id=run_id, tags=tags,
                                                      description=description or None, model_id=model_id)
            else:
                import mlflow

                mv = mlflow.register_model(model_uri, self.name, tags=tags)
            version, created = str(mv.version), True
        else:
            version, created = existing.version, False
            for tag, value in tags.items():
                if existing.tags.get(tag) != value:
                    self.client.set_model_version_tag(self.name, version, tag, value)
        current = self.get(version)
        if description and current.description != description:
            self.client.update_model_version(self.name, version, description=description)
            current = self.get(version)
        return current, created

    def _logged_model(self, model_uri: str, run_id: str | None) -> str | None:
        if not run_id or not model_uri.startswith(f"runs:/{run_id}/"):
            return None
        outputs = getattr(self.client.get_run(run_id), "outputs", None)
        ids = [o.model_id for o in (getattr(outputs, "model_outputs", None) or [])]
        return ids[0] if len(ids) == 1 else None

    def set_alias(self, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(self.name, alias, str(version))

    def delete_alias(self, alias: str) -> None:
        self.client.delete_registered_model_alias(self.name, alias)

    def tag(self, version: str, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(self.name, str(version), key, str(value))

    def promote(self, candidate: Version, champion: Version | None) -> None:
        """``previous`` → old champion, then ``champion`` → candidate: every prefix of these calls leaves a valid
        champion (the old one until the second call, the new one after)."""
        if champion is not None:
            self.set_alias(PREVIOUS, champion.version)
            self.tag(candidate.version, {REPLACED_TAG: champion.version})
        self.set_alias(CHAMPION, candidate.version)

    def rollback(self) -> tuple[Version, Version]:
        """``champion`` ← ``previous``; ``previous`` ← the champion *that* one replaced (or removed). Returns
        (restored, rolled back). RegistryError when there is nothing to roll back to."""
        aliases = self.aliases()
        target = aliases.get(PREVIOUS)
        current = aliases.get(CHAMPION)
        if target is None or target == current:
            where = f"champion is version {current}" if current else "there is no champion"
            raise RegistryError(f"nothing to roll back to: {self.name} has no `{PREVIOUS}` alias ({where})")
        restored = self.get(target)
        self.set_alias(CHAMPION, target)  # first: the champion is valid whatever happens next
        earlier = restored.tags.get(REPLACED_TAG)
        if earlier and earlier != target and self._version_exists(earlier):
            self.set_alias(PREVIOUS, earlier)
        else:
            self.delete_alias(PREVIOUS)
        rolled_back = self.get(current) if current else restored
        if current:
            self.tag(current, {"promotion.rolled_back": "true"})
            if aliases.get(CHALLENGER) == current:  # it lost its place: do not offer it again by default
                self.delete_alias(CHALLENGER)
        return self.get(target), rolled_back

    def _version_exists(self, version: str) -> bool:
        try:
            self.get(version)
        except RegistryError:
            return False
        return True
