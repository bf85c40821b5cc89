"""The one adapter that owns the `kubernetes` client and turns its errors into ours.

The client is synchronous; every call here runs in a worker thread so that kopf's event loop never blocks.
"""

from __future__ import annotations

import asyncio
import base64
import collections.abc
import contextlib
import dataclasses
import datetime
import json
import typing
from typing import Any, TypeVar

import kubernetes
import urllib3

from releaseguard.models import crd as models_crd

Result = TypeVar("Result")
EVENT_SOURCE = "releaseguard"
"""The component named on the operator's Events (the "From" of `kubectl describe`)."""
MAX_EVENT_MESSAGE = 1024


class KubeError(Exception):
    """The apiserver refused a request or could not be reached."""


class NotFound(KubeError):
    """The object does not exist."""


class Conflict(KubeError):
    """The object exists already, or changed since it was read: observe again and decide again."""


class Unreachable(KubeError):
    """The apiserver did not answer: it is down, or its address or certificate is wrong."""

    def __init__(self, what: str, *, host: str, cause: str) -> None:
        super().__init__(f"{what}: cannot reach the cluster at {host}: {cause}")
        self.host = host
        self.cause = cause


class NotConfigured(KubeError):
    """Neither a service account (in a cluster) nor a usable kubeconfig says which cluster to use."""


@dataclasses.dataclass(frozen=True)
class Kube:
    """Typed access to the few API groups the operator uses."""

    api_client: kubernetes.client.ApiClient
    timeout: float | None = None
    """Seconds to connect, and again to wait for the answer, per request; None: the client's defaults."""

    @classmethod
    def from_environment(cls, *, timeout: float | None = None, connections: int | None = None) -> Kube:
        """Use the in-cluster service account when there is one, else the current kubeconfig.

        With a `timeout` (for commands a person waits for) failed requests are not retried either, so a
        cluster that is down is reported at once rather than after the client's retries. `connections` is
        how many are kept alive, one per call that may run at once.
        """
        configuration = kubernetes.client.Configuration()
        try:
            kubernetes.config.load_incluster_config(client_configuration=configuration)
        except kubernetes.config.ConfigException:
            try:
                kubernetes.config.load_kube_config(client_configuration=configuration)
            except (kubernetes.config.ConfigException, OSError) as error:
                location = kubernetes.config.KUBE_CONFIG_DEFAULT_LOCATION
                raise NotConfigured(
                    f"no cluster to talk to: not running in a cluster, and no usable kubeconfig at {location}"
                    f" ({error})"
                ) from error
        if timeout is not None:
            configuration.retries = 0
        if connections is not None:
            configuration.connection_pool_maxsize = connections
        return cls(api_client=kubernetes.client.ApiClient(configuration), timeout=timeout)

    def close(self) -> None:
        self.api_client.close()

    async def read_deployment(self, *, namespace: str, name: str) -> dict[str, Any] | None:
        """The Deployment as a plain dict, or None when it does not exist."""
        apps = kubernetes.client.AppsV1Api(self.api_client)
        return await self._read(
            f"reading Deployment {namespace}/{name}",
            apps.read_namespaced_deployment,
            name=name,
            namespace=namespace,
        )

    async def list_pods(self, *, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        core = kubernetes.client.CoreV1Api(self.api_client)
        return await self._list(
            f"listing pods in {namespace}",
            core.list_namespaced_pod,
            namespace=namespace,
            label_selector=label_selector,
        )

    async def read_service(self, *, namespace: str, name: str) -> dict[str, Any] | None:
        core = kubernetes.client.CoreV1Api(self.api_client)
        return await self._read(
            f"reading Service {namespace}/{name}",
            core.read_namespaced_service,
            name=name,
            namespace=namespace,
        )

    async def read_secret(self, *, namespace: str, name: str) -> dict[str, bytes] | None:
        """The Secret's data, decoded, or None when it does not exist. The values go to whoever asked and
        nowhere else: not into errors, logs or status."""
        core = kubernetes.client.CoreV1Api(self.api_client)
        secret = await self._read(
            f"reading Secret {namespace}/{name}", core.read_namespaced_secret, name=name, namespace=namespace
        )
        if secret is None:
            return None
        return {key: base64.b64decode(value) for key, value in (secret.get("data") or {}).items()}

    async def list_replica_sets(self, *, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        apps = kubernetes.client.AppsV1Api(self.api_client)
        return await self._list(
            f"listing ReplicaSets in {namespace}",
            apps.list_namespaced_replica_set,
            namespace=namespace,
            label_selector=label_selector,
        )

    async def create_deployment(self, *, namespace: str, body: dict[str, Any]) -> None:
        apps = kubernetes.client.AppsV1Api(self.api_client)
        name = body["metadata"]["name"]
        await self._call(
            f"creating Deployment {namespace}/{name}",
            apps.create_namespaced_deployment,
            namespace=namespace,
            body=body,
        )

    async def delete_deployment(self, *, namespace: str, name: str) -> None:
        """Delete a Deployment and, in the background, its ReplicaSets and pods; gone already is fine."""
        apps = kubernetes.client.AppsV1Api(self.api_client)
        try:
            await self._call(
                f"deleting Deployment {namespace}/{name}",
                apps.delete_namespaced_deployment,
                name=name,
                namespace=namespace,
                propagation_policy="Background",
            )
        except NotFound:
            return

    async def replace_in_deployment(self, *, namespace: str, name: str, values: dict[str, Any]) -> None:
        """Replace whole fields (JSON pointer -> value) of a Deployment, e.g. its pod template.

        A merge patch would merge maps and leave behind keys the new value lacks; a JSON patch replaces.
        """
        apps = kubernetes.client.AppsV1Api(self.api_client)
        operations = [{"op": "replace", "path": path, "value": value} for path, value in values.items()]
        await self._call(
            f"patching Deployment {namespace}/{name}",
            apps.patch_namespaced_deployment,
            name=name,
            namespace=namespace,
            body=operations,
            _content_type="application/json-patch+json",
        )

    async def patch_deployment(self, *, namespace: str, name: str, body: dict[str, Any]) -> None:
        """Apply a JSON merge patch to a Deployment."""
        apps = kubernetes.client.AppsV1Api(self.api_client)
        await self._call(
            f"patching Deployment {namespace}/{name}",
            apps.patch_namespaced_deployment,
            name=name,
            namespace=namespace,
            body=body,
            _content_type="application/merge-patch+json",
        )

    async def apply_config_map(self, *, namespace: str, body: dict[str, Any]) -> None:
        """Create the ConfigMap, or replace the one of that name."""
        core = kubernetes.client.CoreV1Api(self.api_client)
        name = body["metadata"]["name"]
        try:
            await self._call(
                f"creating ConfigMap {namespace}/{name}", core.create_namespaced_config_map, namespace, body
            )
        except Conflict:
            await self._call(
                f"replacing ConfigMap {namespace}/{name}",
                core.replace_namespaced_config_map,
                name,
                namespace,
                body,
            )

    async def read_config_map(self, *, namespace: str, name: str) -> dict[str, Any] | None:
        core = kubernetes.client.CoreV1Api(self.api_client)
        return await self._read(
            f"reading ConfigMap {namespace}/{name}",
            core.read_namespaced_config_map,
            name=name,
            namespace=namespace,
        )

    async def list_config_maps(self, *, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        core = kubernetes.client.CoreV1Api(self.api_client)
        return await self._list(
            f"listing ConfigMaps in {namespace}",
            core.list_namespaced_config_map,
            namespace=namespace,
            label_selector=label_selector,
        )

    async def delete_config_map(self, *, namespace: str, name: str) -> None:
        core = kubernetes.client.CoreV1Api(self.api_client)
        with contextlib.suppress(NotFound):
            await self._call(
                f"deleting ConfigMap {namespace}/{name}", core.delete_namespaced_config_map, name, namespace
            )

    async def list_warning_events(self, *, namespace: str, kind: str) -> list[dict[str, Any]]:
        """The Warning Events about objects of one kind in a namespace."""
        core = kubernetes.client.CoreV1Api(self.api_client)
        return await self._list(
            f"listing Warning Events of {kind}s in {namespace}",
            core.list_namespaced_event,
            namespace=namespace,
            field_selector=f"type=Warning,involvedObject.kind={kind}",
        )

    async def list_events(self, *, namespace: str, kind: str, name: str) -> list[dict[str, Any]]:
        """The Events about one object, oldest first."""
        core = kubernetes.client.CoreV1Api(self.api_client)
        events = await self._list(
            f"listing Events of {kind} {namespace}/{name}",
            core.list_namespaced_event,
            namespace=namespace,
            field_selector=f"involvedObject.kind={kind},involvedObject.name={name}",
        )
        return sorted(events, key=lambda event: event.get("lastTimestamp") or event.get("eventTime") or "")

    async def list_release_validations(
        self, *, namespace: str | None, name: str | None = None
    ) -> list[dict[str, Any]]:
        """ReleaseValidations in one namespace (or all when None), optionally only the one named."""
        custom = kubernetes.client.CustomObjectsApi(self.api_client)
        group, version, plural = models_crd.GROUP, models_crd.VERSION, models_crd.PLURAL
        what = "listing ReleaseValidations"
        if namespace is None:
            listing = await self._call(what, custom.list_cluster_custom_object, group, version, plural)
        else:
            listing = await self._call(
                what, custom.list_namespaced_custom_object, group, version, namespace, plural
            )
        # The custom-objects API returns the parsed JSON body.
        items: list[dict[str, Any]] = typing.cast(dict[str, Any], listing).get("items", [])
        return [item for item in items if name is None or item["metadata"]["name"] == name]

    async def annotate_release_validation(
        self, *, namespace: str, name: str, annotations: dict[str, str | None]
    ) -> None:
        """Merge `annotations` into the object's; None removes one."""
        custom = kubernetes.client.CustomObjectsApi(self.api_client)
        await self._call(
            f"annotating ReleaseValidation {namespace}/{name}",
            custom.patch_namespaced_custom_object,
            models_crd.GROUP,
            models_crd.VERSION,
            namespace,
            models_crd.PLURAL,
            name,
            {"metadata": {"annotations": annotations}},
            _content_type="application/merge-patch+json",
        )

    async def patch_release_validation_status(
        self, *, namespace: str, name: str, status: dict[str, Any]
    ) -> None:
        """Merge `status` (a JSON merge patch) into the object's status."""
        custom = kubernetes.client.CustomObjectsApi(self.api_client)
        await self._call(
            f"storing the status of ReleaseValidation {namespace}/{name}",
            custom.patch_namespaced_custom_object_status,
            models_crd.GROUP,
            models_crd.VERSION,
            namespace,
            models_crd.PLURAL,
            name,
            {"status": status},
            _content_type="application/merge-patch+json",
        )

    async def post_event(
        self, *, involved: dict[str, str], type_: str, reason: str, message: str, now: datetime.datetime
    ) -> None:
        """An Event about `involved` (apiVersion, kind, namespace, name, uid), as the operator's others."""
        namespace = involved["namespace"]
        if len(message) > MAX_EVENT_MESSAGE:
            message = message[: MAX_EVENT_MESSAGE - 1] + "…"
        stamp = now.isoformat()
        body = {
            "metadata": {"namespace": namespace, "generateName": f"{EVENT_SOURCE}-event-"},
            "type": type_,
            "reason": reason,
            "message": message,
            "action": reason,
            "involvedObject": involved,
            "reportingComponent": EVENT_SOURCE,
            "reportingInstance": EVENT_SOURCE,
            "source": {"component": EVENT_SOURCE},
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "eventTime": stamp,
            "count": 1,
        }
        core = kubernetes.client.CoreV1Api(self.api_client)
        await self._call(f"posting a {reason} Event", core.create_namespaced_event, namespace, body)

    async def _call(
        self, what: str, function: collections.abc.Callable[..., Result], *args: Any, **kwargs: Any
    ) -> Result:
        if self.timeout is not None:
            kwargs = {**kwargs, "_request_timeout": (self.timeout, self.timeout)}
        try:
            return await asyncio.to_thread(function, *args, **kwargs)
        except kubernetes.client.ApiException as error:
            if error.status == 404:
                raise NotFound(what) from error
            if error.status == 409:
                raise Conflict(what) from error
            raise KubeError(f"{what}: {error.status} {error.reason}") from error
        except (OSError, urllib3.exceptions.HTTPError) as error:
            host = self.api_client.configuration.host
            raise Unreachable(what, host=host, cause=_innermost(error)) from error

    async def _read(
        self, what: str, function: collections.abc.Callable[..., object], **kwargs: Any
    ) -> dict[str, Any] | None:
        """The object as a plain dict, or None when it does not exist."""
        try:
            return await self._json(what, function, **kwargs)
        except NotFound:
            return None

    async def _list(
        self, what: str, function: collections.abc.Callable[..., object], **kwargs: Any
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = (await self._json(what, function, **kwargs)).get("items") or []
        return items

    async def _json(
        self, what: str, function: collections.abc.Callable[..., object], **kwargs: Any
    ) -> dict[str, Any]:
        """The answer as the JSON the apiserver sent, parsed in the worker thread: building the client's
        models and turning them back into dicts costs several times the CPU of parsing it."""

        def fetch(**arguments: Any) -> dict[str, Any]:
            response = typing.cast(urllib3.HTTPResponse, function(**arguments, _preload_content=False))
            try:
                parsed: dict[str, Any] = json.loads(response.data)
            finally:
                response.release_conn()
            return parsed

        return await self._call(what, fetch, **kwargs)


def _innermost(error: BaseException) -> str:
    """The root cause, e.g. `[Errno 111] Connection refused`, without the wrappers' repeated URL."""
    while (inner := error.__cause__ or error.__context__) is not None:
        error = inner
    return str(error) or type(error).__name__


def current_namespace() -> str:
    """The namespace of the current kubeconfig context, as kubectl would use it."""
    try:
        _, context = kubernetes.config.list_kube_config_contexts()
    except kubernetes.config.ConfigException:
        return "default"
    namespace: str = context.get("context", {}).get("namespace", "default")
    return namespace
