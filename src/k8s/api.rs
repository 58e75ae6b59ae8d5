//! The vocabulary of an Event request: which API, which verb, how its body is read.

/// The Event API a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// `/api/v1` events.
    CoreV1,
    /// `/apis/events.k8s.io/v1` events.
    EventsV1,
}

impl Api {
    pub const ALL: [Api; 2] = [Api::CoreV1, Api::EventsV1];

    /// The `apiVersion` this API's objects carry.
    pub fn api_version(self) -> &'static str {
        match self {
            Api::CoreV1 => "v1",
            Api::EventsV1 => "events.k8s.io/v1",
        }
    }

    /// Where the API lives on a standard Kubernetes API server.
    pub fn standard_prefix(self) -> &'static str {
        match self {
            Api::CoreV1 => "/api/v1",
            Api::EventsV1 => "/apis/events.k8s.io/v1",
        }
    }

    pub fn metric_name(self) -> &'static str {
        match self {
            Api::CoreV1 => "core_v1",
            Api::EventsV1 => "events_v1",
        }
    }
}

/// The Kubernetes verb of an Event request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Create,
    Get,
    List,
    Watch,
    Update,
    Patch,
    Delete,
}

impl Operation {
    pub const ALL: [Operation; 7] = [
        Operation::Create,
        Operation::Get,
        Operation::List,
        Operation::Watch,
        Operation::Update,
        Operation::Patch,
        Operation::Delete,
    ];

    /// Operations whose request body carries an Event (or a patch of one).
    pub fn writes_object(self) -> bool {
        matches!(
            self,
            Operation::Create | Operation::Update | Operation::Patch
        )
    }

    pub fn metric_name(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Get => "get",
            Operation::List => "list",
            Operation::Watch => "watch",
            Operation::Update => "update",
            Operation::Patch => "patch",
            Operation::Delete => "delete",
        }
    }
}

/// How a request body is interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// A whole object (create, update).
    Object,
    /// RFC 7386 JSON merge patch.
    MergePatch,
    /// Kubernetes strategic merge patch.
    StrategicMergePatch,
    /// RFC 6902 JSON patch.
    JsonPatch,
}
