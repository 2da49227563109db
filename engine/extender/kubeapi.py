"""The live cluster through the official ``kubernetes`` client: list+watch, and Bindings.

Lists and watches ask for raw JSON (``_preload_content=False``) and parse it with orjson: the
service wants plain dicts, and the client's model objects cost far more to build than to read.
Everything takes the API object as a parameter, so tests drive it with a fake.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from .state import ClusterState

log = logging.getLogger("placer.extender.kube")

WATCH_SECONDS = 300  # the apiserver closes a watch after this; we resume from the last version
RETRY_SECONDS = 2.0


def core_api(kubeconfig: str | None = None, *, in_cluster: bool = False) -> Any:
    """A ``CoreV1Api`` from a kubeconfig file, the in-cluster service account, or the default."""
    from kubernetes import client, config

    if in_cluster:
        config.load_incluster_config()
    else:
        config.load_kube_config(config_file=kubeconfig)
    return client.CoreV1Api()


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) else None


class ApiBinder:
    """Creates ``v1.Binding`` objects; a retried bind to the same node is a success."""

    def __init__(self, api: Any) -> None:
        self.api = api

    def bind(self, namespace: str, name: str, uid: str, node: str) -> str | None:
        from kubernetes import client

        body = client.V1Binding(
            metadata=client.V1ObjectMeta(name=name, namespace=namespace, uid=uid or None),
            target=client.V1ObjectReference(api_version="v1", kind="Node", name=node),
        )
        try:
            # Raw response: the generated client fails to deserialize a Binding's reply.
            self.api.create_namespaced_pod_binding(name, namespace, body, _preload_content=False)
            return None
        except Exception as exc:
            if _status(exc) != 409:
                return f"binding {namespace}/{name} to {node} failed: {_reason(exc)}"
        # 409: already bound. Idempotent when it is bound where we were asked to bind it.
        try:
            pod = self.api.read_namespaced_pod(name, namespace, _preload_content=False)
            bound_to = (orjson.loads(pod.data).get("spec") or {}).get("nodeName")
        except Exception as exc:
            return f"binding {namespace}/{name} conflicted and the pod could not be read: {_reason(exc)}"
        if bound_to == node:
            return None
        return f"pod {namespace}/{name} is already bound to node {bound_to}"


def _reason(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if body:
        try:
            message = orjson.loads(body).get("message")
            if message:
                return str(message)
        except (orjson.JSONDecodeError, AttributeError):
            pass
    return str(getattr(exc, "reason", None) or exc)


def _lines(response: Any) -> Iterator[bytes]:
    """Newline-delimited JSON events of a watch response (urllib3 streaming or a fake)."""
    buffer = b""
    for chunk in response.stream(amt=None, decode_content=False):
        buffer += chunk if isinstance(chunk, bytes) else str(chunk).encode()
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield line
    if buffer.strip():
        yield buffer


class _Kind:
    def __init__(
        self,
        name: str,
        list_fn: Callable[..., Any],
        replace: Callable[[list[dict[str, Any]]], None],
        upsert: Callable[[dict[str, Any]], Any],
        delete: Callable[[dict[str, Any]], None],
        *,
        optional: bool = False,
    ) -> None:
        self.optional = optional  # absent from the API server (404): noted, then left alone
        self.name = name
        self.list_fn = list_fn
        self.replace = replace
        self.upsert = upsert
        self.delete = delete


# Dynamic Resource Allocation objects the adapter reads (resource.k8s.io/v1, GA in 1.34):
# (kind, ResourceV1Api list function). A cluster that does not serve the group is noted once.
DRA_KINDS = (
    ("DeviceClass", "list_device_class"),
    ("ResourceSlice", "list_resource_slice"),
    ("ResourceClaim", "list_resource_claim_for_all_namespaces"),
    ("ResourceClaimTemplate", "list_resource_claim_template_for_all_namespaces"),
)


def _of_kind(
    kind: str, apply: Callable[[dict[str, Any]], None]
) -> Callable[[dict[str, Any]], None]:
    """``apply`` on the object with its kind set (list items and some events carry none)."""

    def with_kind(obj: dict[str, Any]) -> None:
        apply({**obj, "kind": kind})

    return with_kind


def _replace_kind(
    kind: str, replace: Callable[[str, list[dict[str, Any]]], None]
) -> Callable[[list[dict[str, Any]]], None]:
    def replace_all(items: list[dict[str, Any]]) -> None:
        replace(kind, items)

    return replace_all


class ClusterWatcher:
    """Keeps a ``ClusterState`` in step with the apiserver: list, then watch from that version."""

    def __init__(
        self,
        api: Any,
        state: ClusterState,
        *,
        watch_seconds: int = WATCH_SECONDS,
        dra: bool = True,
    ):
        self.api = api
        self.state = state
        self.watch_seconds = watch_seconds
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._synced: set[str] = set()
        self.kinds = [
            _Kind(
                "nodes",
                api.list_node,
                state.replace_nodes,
                state.upsert_node,
                lambda obj: state.delete_node((obj.get("metadata") or {}).get("name", "")),
            ),
            _Kind(
                "pods",
                api.list_pod_for_all_namespaces,
                state.replace_pods,
                state.upsert_pod,
                lambda obj: state.delete_pod(_uid(obj)),
            ),
        ]
        api_client = getattr(api, "api_client", None)
        if dra and api_client is not None:
            from kubernetes import client

            resource = client.ResourceV1Api(api_client)
            for kind, function in DRA_KINDS:
                self.kinds.append(
                    _Kind(
                        kind,
                        getattr(resource, function),
                        _replace_kind(kind, state.replace_objects),
                        _of_kind(kind, state.upsert_object),
                        _of_kind(kind, state.delete_object),
                        optional=True,
                    )
                )

    def start(self) -> None:
        for kind in self.kinds:
            thread = threading.Thread(
                target=self.run, args=(kind,), name=f"placer-watch-{kind.name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()

    def run(self, kind: _Kind, *, once: bool = False) -> None:
        """List, then watch until stopped; re-list when the version is too old (410 Gone)."""
        while not self._stop.is_set():
            try:
                version: str | None = self.list(kind)
                while version is not None and not self._stop.is_set():
                    version = self.watch(kind, version)
                    if once:
                        break
            except Exception as exc:
                if kind.optional and _status(exc) == 404:
                    log.info("%s: not served by this API server; not watched", kind.name)
                    self._mark_listed(kind)
                    return
                if self._stop.is_set():
                    return  # the connection ended because we are shutting down
                log.warning("%s list/watch failed (retrying): %s", kind.name, _reason(exc))
                if once:
                    raise
                self._stop.wait(RETRY_SECONDS)
            if once:
                return

    def list(self, kind: _Kind) -> str:
        items: list[dict[str, Any]] = []
        token: str | None = None
        version = ""
        while True:
            kwargs: dict[str, Any] = {"limit": 500, "_preload_content": False}
            if token:
                kwargs["_continue"] = token
            page = orjson.loads(kind.list_fn(**kwargs).data)
            items.extend(page.get("items") or ())
            meta = page.get("metadata") or {}
            version = str(meta.get("resourceVersion") or version)
            token = meta.get("continue") or None
            if not token:
                break
        kind.replace(items)
        self._mark_listed(kind)
        log.info("listed %d %s at version %s", len(items), kind.name, version)
        return version

    def _mark_listed(self, kind: _Kind) -> None:
        self._synced.add(kind.name)
        if len(self._synced) == len(self.kinds) and not self.state.synced:
            self.state.mark_synced()

    def watch(self, kind: _Kind, version: str) -> str | None:
        """Apply watch events; the version to resume from, or None when a re-list is needed."""
        response = kind.list_fn(
            watch=True,
            resource_version=version,
            allow_watch_bookmarks=True,
            timeout_seconds=self.watch_seconds,
            _preload_content=False,
        )
        started = time.monotonic()
        try:
            for line in _lines(response):
                if self._stop.is_set():
                    break
                event = orjson.loads(line)
                kind_of = event.get("type")
                obj = event.get("object") or {}
                if kind_of == "ERROR":
                    if obj.get("code") == 410:
                        return None
                    raise RuntimeError(f"watch error: {obj.get('message')}")
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                if kind_of in ("ADDED", "MODIFIED"):
                    kind.upsert(obj)
                elif kind_of == "DELETED":
                    kind.delete(obj)
        finally:
            close = getattr(response, "release_conn", None)
            if close is not None:
                close()
        log.debug("%s watch ended after %.0fs", kind.name, time.monotonic() - started)
        return version


def _uid(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return str(meta.get("uid") or f"{meta.get('namespace') or 'default'}/{meta.get('name')}")
