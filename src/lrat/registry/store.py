"""The registered model ``lrat-retriever`` and its aliases in MLflow (a local SQLite store or a tracking server).

Alias moves are ordered so that a process killed between two registry calls always leaves one valid
``champion``: an alias move is a single call that re-points it (never delete-then-set), and ``previous`` is set
before ``champion`` moves. Moves happen under `Registry.lock` (one promotion or rollback at a time per registered
model, across processes and machines sharing the store) after re-reading ``champion``: a decision taken against a
champion that has changed since raises `StaleChampion` instead of moving anything.
"""

from __future__ import annotations

import os
import random
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from lrat.errors import UsageError

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous"
REPLACED_TAG = "promotion.replaced"  # on a promoted version: the champion it replaced (rollback's next target)
LOCK_SUFFIX = ".promotion-lock"  # a registered model that exists only while a process moves aliases
LOCK_WAIT_S = 300.0  # how long to wait for another process's alias moves (they take seconds)
LOCK_STALE_S = 900.0  # a lock older than this was left by a killed process: it is broken


class RegistryError(UsageError, RuntimeError):
    """The registry cannot do what was asked (no such alias, run or version): a usage error, exit 2."""


class StaleChampion(RegistryError):
    """@champion changed between reading it (the start of an evaluation or a rollback) and moving aliases: the
    decision was taken against a champion that no longer is one."""

    def __init__(self, name: str, seen: str | None, now: str | None, what: str) -> None:
        def who(version: str | None) -> str:
            return f"version {version}" if version else "no champion"

        self.seen, self.now = seen, now
        super().__init__(f"@{CHAMPION} of {name} changed from {who(seen)} to {who(now)} while {what}; nothing was "
                         "moved")


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
        """The registered version's URI; for a model not registered in this store (``version`` empty: a dry run's
        candidate), what the user named."""
        return f"models:/{self.name}/{self.version}" if self.version else self.source

    def brief(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version or None, "uri": self.uri, "run_id": self.run_id,
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

    @contextmanager
    def lock(self, wait: float = LOCK_WAIT_S, stale_after: float = LOCK_STALE_S) -> Iterator[None]:
        """Exclusive alias moves: the registered model ``<name>.promotion-lock`` exists while one process holds the
        lock. Creating a registered model is atomic in every MLflow store (a unique name), so two processes (or two
        CI jobs on one tracking server) cannot both hold it. A lock left by a killed process is broken after
        ``stale_after`` seconds; RegistryError after ``wait`` seconds of waiting."""
        from mlflow.exceptions import MlflowException

        name = f"{self.name}{LOCK_SUFFIX}"
        holder = f"{socket.gethostname()}:{os.getpid()}:{random.getrandbits(32):08x}"
        deadline = time.monotonic() + wait
        while True:
            try:
                self.client.create_registered_model(
                    name, tags={"lrat.lock.holder": holder, "lrat.lock.since": f"{time.time():.3f}"},
                    description=f"Held while `lrat promote` moves the aliases of {self.name}; removed right after.")
                break
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
            held = self._lock_tags(name)
            age = time.time() - float(held.get("lrat.lock.since") or 0) if held is not None else 0.0
            if held is not None and age > stale_after:
                self._drop_lock(name)  # its holder was killed between taking and releasing it
                continue
            if time.monotonic() > deadline:
                raise RegistryError(f"another promotion or rollback of {self.name} has held the registry lock {name} "
                                    f"for {age:.0f} s (holder {held and held.get('lrat.lock.holder')}); if none is "
                                    f"running, delete the registered model {name} and try again")
            time.sleep(0.2 + random.random() * 0.3)
        try:
            yield
        finally:
            self._drop_lock(name)

    def _lock_tags(self, name: str) -> dict[str, str] | None:
        from mlflow.exceptions import MlflowException

        try:
            return dict(self.client.get_registered_model(name).tags or {})
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None  # released in the meantime
            raise

    def _drop_lock(self, name: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.delete_registered_model(name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise

    def promote(self, candidate: Version, champion: Version | None) -> None:
        """``previous`` → old champion, then ``champion`` → candidate: every prefix of these calls leaves a valid
        champion (the old one until the second call, the new one after)."""
        if champion is not None:
            self.set_alias(PREVIOUS, champion.version)
            self.tag(candidate.version, {REPLACED_TAG: champion.version})
        self.set_alias(CHAMPION, candidate.version)

    def rollback(self, seen: str | None = None) -> tuple[Version, Version]:
        """``champion`` ← ``previous``; ``previous`` ← the champion *that* one replaced (or removed). Returns
        (restored, rolled back). RegistryError when there is nothing to roll back to; StaleChampion when
        ``champion`` is no longer ``seen`` (what the caller read before deciding to roll back). Call it under
        `lock`."""
        aliases = self.aliases()
        if seen is not None and aliases.get(CHAMPION) != seen:
            raise StaleChampion(self.name, seen, aliases.get(CHAMPION), "rolling back")
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
