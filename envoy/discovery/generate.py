#!/usr/bin/env python3
"""Writes the static discovery and OpenAPI documents of envoy/discovery (see README.md there).

    python3 envoy/discovery/generate.py [OUTDIR]     (default: this script's directory)

Trimmed by hand from upstream Kubernetes (api/discovery/*.json, api/openapi-spec/v3/
api__v1_openapi.json and apis__events.k8s.io__v1_openapi.json): only the Event resources, their
schemas and the meta/v1 schemas they reference, with shortened descriptions. Re-run after any
change: the `?hash=` in openapi-v3.json is the SHA-512 of each per-group-version file.
Standard library only.
"""
import hashlib, json, os, sys

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0-milo-sandbox"}

def dump(name, obj):
    text = json.dumps(obj, indent=2, sort_keys=True) + "\n"
    with open(os.path.join(OUT, name), "w") as f:
        f.write(text)
    return text

def ref(name):
    return {"$ref": "#/components/schemas/" + name}

def prop(name, desc, default=None):
    # kube-openapi's v3 form for a described reference: allOf + sibling keywords.
    p = {"allOf": [ref(name)], "description": desc}
    if default is not None:
        p["default"] = default
    return p

def s(desc, typ="string", **kw):
    d = {"description": desc, "type": typ}
    d.update(kw)
    return d

META = "io.k8s.apimachinery.pkg.apis.meta.v1."
API_VERSION = s("APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources")
KIND = s("Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds")
STR_LIST = {"type": "array", "items": {"type": "string", "default": ""}}

def gvk_list(group, version, kind):
    return [{"group": group, "version": version, "kind": kind}]

# --- apimachinery meta/v1 schemas shared by both documents -----------------------------------
def meta_schemas(gv_group, gv_version):
    """Shared meta schemas. DeleteOptions/Status/WatchEvent carry the GVK of the document's group."""
    def multi(kind):
        gvks = [{"group": "", "kind": kind, "version": "v1"}]
        if gv_group:
            gvks.append({"group": gv_group, "kind": kind, "version": gv_version})
        return gvks
    return {
        META + "Time": {"description": "Time is a wrapper around time.Time which supports correct marshaling to YAML and JSON.  Wrappers are provided for many of the factory methods that the time package offers.", "type": "string", "format": "date-time"},
        META + "MicroTime": {"description": "MicroTime is version of Time with microsecond level precision.", "type": "string", "format": "date-time"},
        META + "FieldsV1": {"description": "FieldsV1 stores a set of fields in a data structure like a Trie, in JSON format.", "type": "object"},
        META + "ManagedFieldsEntry": {
            "description": "ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the resource that the fieldset applies to.",
            "type": "object",
            "properties": {
                "apiVersion": s("APIVersion defines the version of this resource that this field set applies to."),
                "fieldsType": s("FieldsType is the discriminator for the different fields format and version. There is currently only one possible value: \"FieldsV1\""),
                "fieldsV1": prop(META + "FieldsV1", "FieldsV1 holds the first JSON version format as described in the \"FieldsV1\" type."),
                "manager": s("Manager is an identifier of the workflow managing these fields."),
                "operation": s("Operation is the type of operation which lead to this ManagedFieldsEntry being created. The only valid values for this field are 'Apply' and 'Update'."),
                "subresource": s("Subresource is the name of the subresource used to update that object, or empty string if the object was updated through the main resource."),
                "time": prop(META + "Time", "Time is the timestamp of when the ManagedFields entry was added."),
            },
        },
        META + "OwnerReference": {
            "description": "OwnerReference contains enough information to let you identify an owning object. An owning object must be in the same namespace as the dependent, or be cluster-scoped, so there is no namespace field.",
            "type": "object",
            "properties": {
                "apiVersion": s("API version of the referent.", default=""),
                "blockOwnerDeletion": s("If true, AND if the owner has the \"foregroundDeletion\" finalizer, then the owner cannot be deleted from the key-value store until this reference is removed.", "boolean"),
                "controller": s("If true, this reference points to the managing controller.", "boolean"),
                "kind": s("Kind of the referent.", default=""),
                "name": s("Name of the referent.", default=""),
                "uid": s("UID of the referent.", default=""),
            },
            "required": ["apiVersion", "kind", "name", "uid"],
            "x-kubernetes-map-type": "atomic",
        },
        META + "ObjectMeta": {
            "description": "ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.",
            "type": "object",
            "properties": {
                "annotations": {"description": "Annotations is an unstructured key value map stored with a resource that may be set by external tools to store and retrieve arbitrary metadata.", "type": "object", "additionalProperties": {"type": "string", "default": ""}},
                "creationTimestamp": prop(META + "Time", "CreationTimestamp is a timestamp representing the server time when this object was created. Populated by the system. Read-only.", {}),
                "deletionGracePeriodSeconds": s("Number of seconds allowed for this object to gracefully terminate before it will be removed from the system. Read-only.", "integer", format="int64"),
                "deletionTimestamp": prop(META + "Time", "DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted. Populated by the system. Read-only."),
                "finalizers": dict(STR_LIST, description="Must be empty before the object is deleted from the registry.", **{"x-kubernetes-list-type": "set", "x-kubernetes-patch-strategy": "merge"}),
                "generateName": s("GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF the Name field has not been provided."),
                "generation": s("A sequence number representing a specific generation of the desired state. Populated by the system. Read-only.", "integer", format="int64"),
                "labels": {"description": "Map of string keys and values that can be used to organize and categorize (scope and select) objects.", "type": "object", "additionalProperties": {"type": "string", "default": ""}},
                "managedFields": {"description": "ManagedFields maps workflow-id and version to the set of fields that are managed by that workflow.", "type": "array", "items": dict(ref(META + "ManagedFieldsEntry"), default={}), "x-kubernetes-list-type": "atomic"},
                "name": s("Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Cannot be updated."),
                "namespace": s("Namespace defines the space within which each name must be unique. An empty namespace is equivalent to the \"default\" namespace. Cannot be updated."),
                "ownerReferences": {"description": "List of objects depended by this object.", "type": "array", "items": dict(ref(META + "OwnerReference"), default={}), "x-kubernetes-list-map-keys": ["uid"], "x-kubernetes-list-type": "map", "x-kubernetes-patch-merge-key": "uid", "x-kubernetes-patch-strategy": "merge"},
                "resourceVersion": s("An opaque value that represents the internal version of this object that can be used by clients to determine when objects have changed. Populated by the system. Read-only."),
                "selfLink": s("Deprecated: selfLink is a legacy read-only field that is no longer populated by the system."),
                "uid": s("UID is the unique in time and space value for this object. Populated by the system. Read-only."),
            },
        },
        META + "ListMeta": {
            "description": "ListMeta describes metadata that synthetic resources must have, including lists and various status objects.",
            "type": "object",
            "properties": {
                "continue": s("continue may be set if the user set a limit on the number of items returned, and indicates that the server has more data available."),
                "remainingItemCount": s("remainingItemCount is the number of subsequent items in the list which are not included in this list response.", "integer", format="int64"),
                "resourceVersion": s("String that identifies the server's internal version of this object that can be used by clients to determine when objects have changed."),
                "selfLink": s("Deprecated: selfLink is a legacy read-only field that is no longer populated by the system."),
            },
        },
        META + "Preconditions": {
            "description": "Preconditions must be fulfilled before an operation (update, delete, etc.) is carried out.",
            "type": "object",
            "properties": {"resourceVersion": s("Specifies the target ResourceVersion"), "uid": s("Specifies the target UID.")},
        },
        META + "DeleteOptions": {
            "description": "DeleteOptions may be provided when deleting an API object.",
            "type": "object",
            "properties": {
                "apiVersion": API_VERSION,
                "dryRun": dict(STR_LIST, description="When present, indicates that modifications should not be persisted.", **{"x-kubernetes-list-type": "atomic"}),
                "gracePeriodSeconds": s("The duration in seconds before the object should be deleted.", "integer", format="int64"),
                "ignoreStoreReadErrorWithClusterBreakingPotential": s("if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow fails with a corrupt object error.", "boolean"),
                "kind": KIND,
                "orphanDependents": s("Deprecated: please use the PropagationPolicy.", "boolean"),
                "preconditions": prop(META + "Preconditions", "Must be fulfilled before a deletion is carried out. If not possible, a 409 Conflict status will be returned."),
                "propagationPolicy": s("Whether and how garbage collection will be performed. Acceptable values are: 'Orphan', 'Background', 'Foreground'."),
            },
            "x-kubernetes-group-version-kind": multi("DeleteOptions"),
        },
        META + "StatusCause": {
            "description": "StatusCause provides more information about an api.Status failure, including cases when multiple errors are encountered.",
            "type": "object",
            "properties": {"field": s("The field of the resource that has caused this error, as named by its JSON serialization."), "message": s("A human-readable description of the cause of the error."), "reason": s("A machine-readable description of the cause of the error.")},
        },
        META + "StatusDetails": {
            "description": "StatusDetails is a set of additional properties that MAY be set by the server to provide additional information about a response.",
            "type": "object",
            "properties": {
                "causes": {"description": "The Causes array includes more details associated with the StatusReason failure.", "type": "array", "items": dict(ref(META + "StatusCause"), default={}), "x-kubernetes-list-type": "atomic"},
                "group": s("The group attribute of the resource associated with the status StatusReason."),
                "kind": s("The kind attribute of the resource associated with the status StatusReason."),
                "name": s("The name attribute of the resource associated with the status StatusReason (when there is a single name which can be described)."),
                "retryAfterSeconds": s("If specified, the time in seconds before the operation should be retried.", "integer", format="int32"),
                "uid": s("UID of the resource. (when there is a single resource which can be described)."),
            },
        },
        META + "Status": {
            "description": "Status is a return value for calls that don't return other objects.",
            "type": "object",
            "properties": {
                "apiVersion": API_VERSION,
                "code": s("Suggested HTTP return code for this status, 0 if not set.", "integer", format="int32"),
                "details": prop(META + "StatusDetails", "Extended data associated with the reason."),
                "kind": KIND,
                "message": s("A human-readable description of the status of this operation."),
                "metadata": prop(META + "ListMeta", "Standard list metadata.", {}),
                "reason": s("A machine-readable description of why this operation is in the \"Failure\" status."),
                "status": s("Status of the operation. One of: \"Success\" or \"Failure\"."),
            },
            "x-kubernetes-group-version-kind": [{"group": "", "kind": "Status", "version": "v1"}],
        },
        META + "Patch": {"description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.", "type": "object"},
        "io.k8s.apimachinery.pkg.runtime.RawExtension": {"description": "RawExtension is used to hold extensions in external versions.", "type": "object"},
        META + "WatchEvent": {
            "description": "Event represents a single event to a watched resource.",
            "type": "object",
            "properties": {
                "object": prop("io.k8s.apimachinery.pkg.runtime.RawExtension", "Object is: * If Type is Added or Modified: the new state of the object. * If Type is Deleted: the state of the object immediately before deletion. * If Type is Error: *Status is recommended; other types may make sense depending on context."),
                "type": {"type": "string", "default": ""},
            },
            "required": ["type", "object"],
            "x-kubernetes-group-version-kind": multi("WatchEvent"),
        },
        META + "APIResource": {
            "description": "APIResource specifies the name of a resource and whether it is namespaced.",
            "type": "object",
            "properties": {
                "categories": dict(STR_LIST, description="categories is a list of the grouped resources this resource belongs to (e.g. 'all')", **{"x-kubernetes-list-type": "atomic"}),
                "group": s("group is the preferred group of the resource."),
                "kind": s("kind is the kind for the resource (e.g. 'Foo' is the kind for a resource 'foo')", default=""),
                "name": s("name is the plural name of the resource.", default=""),
                "namespaced": s("namespaced indicates if a resource is namespaced or not.", "boolean", default=False),
                "shortNames": dict(STR_LIST, description="shortNames is a list of suggested short names of the resource.", **{"x-kubernetes-list-type": "atomic"}),
                "singularName": s("singularName is the singular name of the resource.", default=""),
                "storageVersionHash": s("The hash value of the storage version, the version this resource is converted to when written to the data store."),
                "verbs": dict(STR_LIST, description="verbs is a list of supported kube verbs (this includes get, list, watch, create, update, patch, delete, deletecollection, and proxy)"),
                "version": s("version is the preferred version of the resource."),
            },
            "required": ["name", "singularName", "namespaced", "kind", "verbs"],
        },
        META + "APIResourceList": {
            "description": "APIResourceList is a list of APIResource, it is used to expose the name of the resources supported in a specific group and version, and if the resource is namespaced.",
            "type": "object",
            "properties": {
                "apiVersion": API_VERSION,
                "groupVersion": s("groupVersion is the group and version this APIResourceList is for.", default=""),
                "kind": KIND,
                "resources": {"description": "resources contains the name of the resources and if they are namespaced.", "type": "array", "items": dict(ref(META + "APIResource"), default={}), "x-kubernetes-list-type": "atomic"},
            },
            "required": ["groupVersion", "resources"],
            "x-kubernetes-group-version-kind": [{"group": "", "kind": "APIResourceList", "version": "v1"}],
        },
    }

CORE = "io.k8s.api.core.v1."
def core_shared():
    return {
        CORE + "EventSource": {
            "description": "EventSource contains information for an event.",
            "type": "object",
            "properties": {"component": s("Component from which the event is generated."), "host": s("Node name on which the event is generated.")},
        },
        CORE + "ObjectReference": {
            "description": "ObjectReference contains enough information to let you inspect or modify the referred object.",
            "type": "object",
            "properties": {
                "apiVersion": s("API version of the referent."),
                "fieldPath": s("If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]."),
                "kind": s("Kind of the referent."),
                "name": s("Name of the referent."),
                "namespace": s("Namespace of the referent."),
                "resourceVersion": s("Specific resourceVersion to which this reference is made, if any."),
                "uid": s("UID of the referent."),
            },
            "x-kubernetes-map-type": "atomic",
        },
    }

EVENT_DESC = "Event is a report of an event somewhere in the cluster.  Events have a limited retention time and triggers and messages may evolve with time.  Event consumers should not rely on the timing of an event with a given Reason reflecting a consistent underlying trigger, or the continued existence of events with that Reason.  Events should be treated as informative, best-effort, supplemental data."

def core_event_schemas():
    d = core_shared()
    d[CORE + "EventSeries"] = {
        "description": "EventSeries contain information on series of events, i.e. thing that was/is happening continuously for some time.",
        "type": "object",
        "properties": {
            "count": s("Number of occurrences in this series up to the last heartbeat time", "integer", format="int32"),
            "lastObservedTime": prop(META + "MicroTime", "Time of the last occurrence observed", {}),
        },
    }
    d[CORE + "Event"] = {
        "description": EVENT_DESC,
        "type": "object",
        "properties": {
            "action": s("What action was taken/failed regarding to the Regarding object."),
            "apiVersion": API_VERSION,
            "count": s("The number of times this event has occurred.", "integer", format="int32"),
            "eventTime": prop(META + "MicroTime", "Time when this Event was first observed.", {}),
            "firstTimestamp": prop(META + "Time", "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)", {}),
            "involvedObject": prop(CORE + "ObjectReference", "The object that this event is about.", {}),
            "kind": KIND,
            "lastTimestamp": prop(META + "Time", "The time at which the most recent occurrence of this event was recorded.", {}),
            "message": s("A human-readable description of the status of this operation."),
            "metadata": prop(META + "ObjectMeta", "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata", {}),
            "reason": s("This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
            "related": prop(CORE + "ObjectReference", "Optional secondary object for more complex actions."),
            "reportingComponent": s("Name of the controller that emitted this Event, e.g. `kubernetes.io/kubelet`.", default=""),
            "reportingInstance": s("ID of the controller instance, e.g. `kubelet-xyzf`.", default=""),
            "series": prop(CORE + "EventSeries", "Data about the Event series this event represents or nil if it's a singleton Event."),
            "source": prop(CORE + "EventSource", "The component reporting this event. Should be a short machine understandable string.", {}),
            "type": s("Type of this event (Normal, Warning), new types could be added in the future"),
        },
        "required": ["metadata", "involvedObject"],
        "x-kubernetes-group-version-kind": gvk_list("", "v1", "Event"),
    }
    d[CORE + "EventList"] = {
        "description": "EventList is a list of events.",
        "type": "object",
        "properties": {
            "apiVersion": API_VERSION,
            "items": {"description": "List of events", "type": "array", "items": dict(ref(CORE + "Event"), default={})},
            "kind": KIND,
            "metadata": prop(META + "ListMeta", "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds", {}),
        },
        "required": ["items"],
        "x-kubernetes-group-version-kind": gvk_list("", "v1", "EventList"),
    }
    return d

EV = "io.k8s.api.events.v1."
def events_v1_schemas():
    d = core_shared()
    d[EV + "EventSeries"] = {
        "description": "EventSeries contain information on series of events, i.e. thing that was/is happening continuously for some time. How often to update the EventSeries is up to the event reporters.",
        "type": "object",
        "properties": {
            "count": s("count is the number of occurrences in this series up to the last heartbeat time.", "integer", format="int32", default=0),
            "lastObservedTime": prop(META + "MicroTime", "lastObservedTime is the time when last Event from the series was seen before last heartbeat.", {}),
        },
        "required": ["count", "lastObservedTime"],
    }
    d[EV + "Event"] = {
        "description": "Event is a report of an event somewhere in the cluster. It generally denotes some state change in the system. Events have a limited retention time and triggers and messages may evolve with time.  Event consumers should not rely on the timing of an event with a given Reason reflecting a consistent underlying trigger, or the continued existence of events with that Reason.  Events should be treated as informative, best-effort, supplemental data.",
        "type": "object",
        "properties": {
            "action": s("action is what action was taken/failed regarding to the regarding object. It is machine-readable. This field cannot be empty for new Events and it can have at most 128 characters."),
            "apiVersion": API_VERSION,
            "deprecatedCount": s("deprecatedCount is the deprecated field assuring backward compatibility with core.v1 Event type.", "integer", format="int32"),
            "deprecatedFirstTimestamp": prop(META + "Time", "deprecatedFirstTimestamp is the deprecated field assuring backward compatibility with core.v1 Event type.", {}),
            "deprecatedLastTimestamp": prop(META + "Time", "deprecatedLastTimestamp is the deprecated field assuring backward compatibility with core.v1 Event type.", {}),
            "deprecatedSource": prop(CORE + "EventSource", "deprecatedSource is the deprecated field assuring backward compatibility with core.v1 Event type.", {}),
            "eventTime": prop(META + "MicroTime", "eventTime is the time when this Event was first observed. It is required.", {}),
            "kind": KIND,
            "metadata": prop(META + "ObjectMeta", "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata", {}),
            "note": s("note is a human-readable description of the status of this operation. Maximal length of the note is 1kB, but libraries should be prepared to handle values up to 64kB."),
            "reason": s("reason is why the action was taken. It is human-readable. This field cannot be empty for new Events and it can have at most 128 characters."),
            "regarding": prop(CORE + "ObjectReference", "regarding contains the object this Event is about.", {}),
            "related": prop(CORE + "ObjectReference", "related is the optional secondary object for more complex actions."),
            "reportingController": s("reportingController is the name of the controller that emitted this Event, e.g. `kubernetes.io/kubelet`. This field cannot be empty for new Events."),
            "reportingInstance": s("reportingInstance is the ID of the controller instance, e.g. `kubelet-xyzf`. This field cannot be empty for new Events and it can have at most 128 characters."),
            "series": prop(EV + "EventSeries", "series is data about the Event series this event represents or nil if it's a singleton Event."),
            "type": s("type is the type of this event (Normal, Warning), new types could be added in the future. It is machine-readable. This field cannot be empty for new Events."),
        },
        "required": ["eventTime"],
        "x-kubernetes-group-version-kind": gvk_list("events.k8s.io", "v1", "Event"),
    }
    d[EV + "EventList"] = {
        "description": "EventList is a list of Event objects.",
        "type": "object",
        "properties": {
            "apiVersion": API_VERSION,
            "items": {"description": "items is a list of schema objects.", "type": "array", "items": dict(ref(EV + "Event"), default={})},
            "kind": KIND,
            "metadata": prop(META + "ListMeta", "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata", {}),
        },
        "required": ["items"],
        "x-kubernetes-group-version-kind": gvk_list("events.k8s.io", "v1", "EventList"),
    }
    return d

# --- paths -----------------------------------------------------------------------------------
def q(name, desc, typ="string"):
    return {"name": name, "in": "query", "description": desc, "schema": {"type": typ, "uniqueItems": True}}

PRETTY = q("pretty", "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget).")
NAMESPACE = {"name": "namespace", "in": "path", "description": "object name and auth scope, such as for teams and projects", "required": True, "schema": {"type": "string", "uniqueItems": True}}
def NAME(kind):
    return {"name": "name", "in": "path", "description": "name of the " + kind, "required": True, "schema": {"type": "string", "uniqueItems": True}}
DRY_RUN = q("dryRun", "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed")
FIELD_MANAGER = q("fieldManager", "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.")
FIELD_MANAGER_PATCH = q("fieldManager", "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint. This field is required for apply requests (application/apply-patch) but optional for non-apply patch types (JsonPatch, MergePatch, StrategicMergePatch).")
FIELD_VALIDATION = q("fieldValidation", "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.")
FORCE = q("force", "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.", "boolean")
GRACE = q("gracePeriodSeconds", "The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately. If this value is nil, the default grace period for the specified type will be used. Defaults to a per object value if not specified. zero means delete immediately.", "integer")
UNSAFE = q("ignoreStoreReadErrorWithClusterBreakingPotential", "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow fails with a corrupt object error.", "boolean")
ORPHAN = q("orphanDependents", "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the dependent objects be orphaned.", "boolean")
PROPAGATION = q("propagationPolicy", "Whether and how garbage collection will be performed. Either this field or OrphanDependents may be set, but not both. Acceptable values are: 'Orphan', 'Background', 'Foreground'.")
LIST_PARAMS = [
    q("allowWatchBookmarks", "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not implement bookmarks may ignore this flag and bookmarks are sent at the server's discretion.", "boolean"),
    q("continue", "The continue option should be set when retrieving more results from the server. Since this value is server defined, clients may only use the continue value from a previous query result with identical query parameters (except for the value of continue)."),
    q("fieldSelector", "A selector to restrict the list of returned objects by their fields. Defaults to everything."),
    q("labelSelector", "A selector to restrict the list of returned objects by their labels. Defaults to everything."),
    q("limit", "limit is a maximum number of responses to return for a list call. If more items exist, the server will set the `continue` field on the list metadata.", "integer"),
    q("resourceVersion", "resourceVersion sets a constraint on what resource versions a request may be served from. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset"),
    q("resourceVersionMatch", "resourceVersionMatch determines how resourceVersion is applied to list calls. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset"),
    q("sendInitialEvents", "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will begin with synthetic events to produce the current state of objects in the collection.", "boolean"),
    q("timeoutSeconds", "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity.", "integer"),
    q("watch", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion.", "boolean"),
]
DC_PARAMS = [
    q("continue", "The continue option should be set when retrieving more results from the server."),
    DRY_RUN,
    q("fieldSelector", "A selector to restrict the list of returned objects by their fields. Defaults to everything."),
    GRACE, UNSAFE,
    q("labelSelector", "A selector to restrict the list of returned objects by their labels. Defaults to everything."),
    q("limit", "limit is a maximum number of responses to return for a list call.", "integer"),
    ORPHAN, PROPAGATION,
    q("resourceVersion", "resourceVersion sets a constraint on what resource versions a request may be served from."),
    q("resourceVersionMatch", "resourceVersionMatch determines how resourceVersion is applied to list calls."),
    q("sendInitialEvents", "`sendInitialEvents=true` may be set together with `watch=true`.", "boolean"),
    q("timeoutSeconds", "Timeout for the list/watch call.", "integer"),
]

# Only what the sandbox backends speak: JSON (kubectl never reads these lists; upstream also
# lists yaml, protobuf and cbor).
JSON_YAML_PB = ["application/json"]
WATCH_TYPES = JSON_YAML_PB + ["application/json;stream=watch"]

def content(schema_name, types=JSON_YAML_PB):
    return {t: {"schema": ref(schema_name)} for t in types}

def resp(code_to_desc, schema_name, types=JSON_YAML_PB):
    return {code: {"description": desc, "content": content(schema_name, types)} for code, desc in code_to_desc}

def op(action, gvk, op_id, desc, tag, params=None, body=None, responses=None):
    o = {
        "tags": [tag],
        "description": desc,
        "operationId": op_id,
        "responses": responses,
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk,
    }
    if params:
        o["parameters"] = params
    if body:
        o["requestBody"] = body
    return o

def event_paths(prefix, group, version, pascal, schema_event, schema_list, tag):
    """Paths of the events resource under prefix (e.g. /api/v1, /apis/events.k8s.io/v1)."""
    gvk = {"group": group, "kind": "Event", "version": version}
    status = META + "Status"
    put_body = {"content": {"*/*": {"schema": ref(schema_event)}}, "required": True}
    del_body = {"content": {"*/*": {"schema": ref(META + "DeleteOptions")}}}
    patch_body = {"content": {t: {"schema": ref(META + "Patch")} for t in [
        "application/json-patch+json", "application/merge-patch+json",
        "application/strategic-merge-patch+json"]}, "required": True}
    ok_created = [("200", "OK"), ("201", "Created")]
    return {
        prefix + "/events": {
            "get": op("list", gvk, f"list{pascal}EventForAllNamespaces", "list or watch objects of kind Event", tag,
                      responses=resp([("200", "OK")], schema_list, WATCH_TYPES)),
            "parameters": LIST_PARAMS + [PRETTY],
        },
        prefix + "/namespaces/{namespace}/events": {
            "get": op("list", gvk, f"list{pascal}NamespacedEvent", "list or watch objects of kind Event", tag,
                      params=LIST_PARAMS, responses=resp([("200", "OK")], schema_list, WATCH_TYPES)),
            "post": op("post", gvk, f"create{pascal}NamespacedEvent", "create an Event", tag,
                       params=[DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION], body=put_body,
                       responses=resp(ok_created + [("202", "Accepted")], schema_event)),
            "delete": op("deletecollection", gvk, f"deleteCollection{pascal}NamespacedEvent", "delete collection of Event", tag,
                         params=DC_PARAMS, body=del_body, responses=resp([("200", "OK")], status)),
            "parameters": [NAMESPACE, PRETTY],
        },
        prefix + "/namespaces/{namespace}/events/{name}": {
            "get": op("get", gvk, f"read{pascal}NamespacedEvent", "read the specified Event", tag,
                      responses=resp([("200", "OK")], schema_event)),
            "put": op("put", gvk, f"replace{pascal}NamespacedEvent", "replace the specified Event", tag,
                      params=[DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION], body=put_body,
                      responses=resp(ok_created, schema_event)),
            "patch": op("patch", gvk, f"patch{pascal}NamespacedEvent", "partially update the specified Event", tag,
                        params=[DRY_RUN, FIELD_MANAGER_PATCH, FIELD_VALIDATION, FORCE], body=patch_body,
                        responses=resp(ok_created, schema_event)),
            "delete": op("delete", gvk, f"delete{pascal}NamespacedEvent", "delete an Event", tag,
                         params=[DRY_RUN, GRACE, UNSAFE, ORPHAN, PROPAGATION], body=del_body,
                         responses=resp([("200", "OK"), ("202", "Accepted")], status)),
            "parameters": [NAME("Event"), NAMESPACE, PRETTY],
        },
    }

def resources_path(prefix, op_id, tag):
    return {prefix + "/": {"get": {
        "tags": [tag], "description": "get available resources", "operationId": op_id,
        "responses": {"200": {"description": "OK", "content": {t: {"schema": ref(META + "APIResourceList")} for t in ["application/json"]}}},
    }}}

def doc(schemas, paths):
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": VERSION["gitVersion"]},
            "paths": paths, "components": {"schemas": schemas}}

os.makedirs(OUT, exist_ok=True)

core_paths = dict(resources_path("/api/v1", "getCoreV1APIResources", "core_v1"))
core_paths.update(event_paths("/api/v1", "", "v1", "CoreV1", CORE + "Event", CORE + "EventList", "core_v1"))
core_doc = doc({**meta_schemas("", "v1"), **core_event_schemas()}, core_paths)

ev_paths = dict(resources_path("/apis/events.k8s.io/v1", "getEventsV1APIResources", "events_v1"))
ev_paths.update(event_paths("/apis/events.k8s.io/v1", "events.k8s.io", "v1", "EventsV1", EV + "Event", EV + "EventList", "events_v1"))
ev_doc = doc({**meta_schemas("events.k8s.io", "v1"), **events_v1_schemas()}, ev_paths)

def h(text):
    # kube-apiserver uses the SHA-512 of the document, upper-case hex, as the cache-busting hash.
    return hashlib.sha512(text.encode()).hexdigest().upper()

core_text = dump("openapi-v3-api-v1.json", core_doc)
ev_text = dump("openapi-v3-apis-events.k8s.io-v1.json", ev_doc)
dump("openapi-v3.json", {"paths": {
    "api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=" + h(core_text)},
    "apis/events.k8s.io/v1": {"serverRelativeURL": "/openapi/v3/apis/events.k8s.io/v1?hash=" + h(ev_text)},
}})

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
dump("api.json", {"kind": "APIVersions", "versions": ["v1"],
                  "serverAddressByClientCIDRs": []})
dump("api-v1.json", {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
    {"name": "events", "singularName": "event", "namespaced": True, "kind": "Event", "verbs": VERBS,
     "shortNames": ["ev"]},
    {"name": "namespaces", "singularName": "namespace", "namespaced": False, "kind": "Namespace",
     "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"], "shortNames": ["ns"]},
]})
GROUP = {"name": "events.k8s.io",
         "versions": [{"groupVersion": "events.k8s.io/v1", "version": "v1"}],
         "preferredVersion": {"groupVersion": "events.k8s.io/v1", "version": "v1"}}
dump("apis.json", {"kind": "APIGroupList", "apiVersion": "v1", "groups": [GROUP]})
dump("apis-events.k8s.io.json", dict({"kind": "APIGroup", "apiVersion": "v1"}, **GROUP))
dump("apis-events.k8s.io-v1.json", {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "events.k8s.io/v1", "resources": [
    {"name": "events", "singularName": "event", "namespaced": True, "kind": "Event", "verbs": VERBS,
     "shortNames": ["ev"]},
]})
dump("version.json", dict(VERSION, gitCommit="0000000000000000000000000000000000000000", gitTreeState="clean",
                          buildDate="2025-01-01T00:00:00Z", goVersion="go1.24.0", compiler="gc", platform="linux/amd64"))
# Minimal OpenAPI v2 document, protobuf-encoded (gnostic openapi_v2.Document: swagger=1, info=2
# {title=1, version=2}). Only kubectl <= 1.28 needs it (see README).
def ld(field, payload):
    assert len(payload) < 128
    return bytes([(field << 3) | 2, len(payload)]) + payload
with open(os.path.join(OUT, "openapi-v2.pb"), "wb") as f:
    f.write(ld(1, b"2.0") + ld(2, ld(1, b"Kubernetes") + ld(2, VERSION["gitVersion"].encode())))
for n in sorted(os.listdir(OUT)):
    if n.endswith((".json", ".pb")):
        print(n, os.path.getsize(os.path.join(OUT, n)))
