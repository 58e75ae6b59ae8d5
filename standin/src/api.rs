//! The `events` resource: routing and the create/get/list/watch/update/patch/delete handlers.
//!
//! Every body is decoded into k8s-openapi's typed Event the way kube-apiserver's decoder does
//! ([`crate::repr`], [`crate::codec`]), validated by the event strategy's rules
//! ([`crate::validation`]), stamped with its field manager ([`crate::managed`]) and stored in the
//! core shape. In "standard paths" mode (`/api/v1`) the same store is also served as
//! events.k8s.io/v1 at `/apis/events.k8s.io/v1`, the way kube-apiserver serves both versions of
//! one storage: bodies and patches are read in events.k8s.io/v1 and converted
//! ([`crate::conversion`]), objects converted on the way out.

use std::sync::Arc;
use std::time::Duration;

use http::{header, HeaderMap, Method, Response};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::codec::{self, FieldValidation};
use crate::managed;
use crate::model::{self, Event};
use crate::negotiate::{self, IncludeObject, Output};
use crate::pagination::{self, Continue};
use crate::patch::{self, PatchError};
use crate::repr::Repr;
use crate::resource::Resource;
use crate::respond::{self, Body};
use crate::scope::Scope;
use crate::selector::{FieldOp, FieldRequirement, FieldSelector, LabelSelector};
use crate::status::{self, ApiError, Cause};
use crate::store::{Store, WatchFrom, Write, Written};
use crate::table::{self, TableShape};
use crate::validation::{self, Rules};
use crate::watch::{self, Watcher};

/// What a URL under the prefix addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `{prefix}/namespaces/{ns}/events` or, with `None`, `{prefix}/events`.
    Collection { namespace: Option<String> },
    /// `{prefix}/namespaces/{ns}/events/{name}`.
    Item { namespace: String, name: String },
}

/// A route: the target and whether it came through the legacy `/watch/` form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub target: Target,
    pub legacy_watch: bool,
}

pub fn route(res: &Resource, path: &str) -> Option<Route> {
    let rest = path.strip_prefix(res.prefix.as_str())?;
    let rest = rest.strip_prefix('/')?;
    let (legacy_watch, rest) = match rest.strip_prefix("watch/") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let segs: Vec<&str> = rest.split('/').collect();
    let seg = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let target = match segs.as_slice() {
        ["events"] => Target::Collection { namespace: None },
        ["namespaces", ns, "events"] => Target::Collection {
            namespace: Some(seg(ns)?),
        },
        ["namespaces", ns, "events", name] => Target::Item {
            namespace: seg(ns)?,
            name: seg(name)?,
        },
        _ => return None,
    };
    Some(Route {
        target,
        legacy_watch,
    })
}

/// Query parameters, percent-decoded; the first value of a key wins.
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(q: Option<&str>) -> Self {
        Query(
            form_urlencoded::parse(q.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Kubernetes' query bool: present and not `0`/`f`/`false`/`n`/`no` (any case) is true.
    pub fn flag(&self, key: &str) -> bool {
        match self.get(key) {
            None => false,
            Some(v) => !["0", "f", "false", "n", "no"]
                .iter()
                .any(|f| v.eq_ignore_ascii_case(f)),
        }
    }
}

/// One main-port API request, already authenticated.
pub struct ApiRequest<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub scope: Scope,
}

pub struct Api {
    pub store: Arc<Store>,
    /// The stored resource: its prefix, and the `apiVersion` objects are stored with.
    pub res: Resource,
    /// events.k8s.io/v1, served from the same store in "standard paths" mode (`/api/v1`).
    pub events_v1: Option<Resource>,
    pub bookmark_interval: Duration,
}

/// The API version a request addresses: its resource (URL prefix, response `apiVersion`,
/// Status wording) and how it presents the stored objects.
#[derive(Debug, Clone, Copy)]
struct View<'a> {
    res: &'a Resource,
    repr: Repr,
}

impl View<'_> {
    /// The event rules of writes through this API.
    fn rules(&self) -> Rules {
        match self.repr {
            Repr::EventsV1 => Rules::EventsV1,
            Repr::Stored if self.res.is_standard() => Rules::Core,
            Repr::Stored => Rules::Activity,
        }
    }

    fn api_version(&self) -> String {
        self.res.api_version()
    }

    /// One stored event as this API returns it.
    fn object(&self, e: &Event) -> Value {
        self.repr.object(e, &self.api_version())
    }

    /// The common name rule after the strategy's: the Activity group keeps DNS subdomains,
    /// the Kubernetes APIs only path-segment names (events.k8s.io/v1 checked DNS already).
    fn name_rule(&self, name: &str) -> Option<Cause> {
        match self.rules() {
            Rules::Activity => validation::subdomain_name(name),
            Rules::Core | Rules::EventsV1 => validation::path_segment_name(name),
        }
    }
}

/// A decoded body in the stored shape, and the `Warning`s to answer with.
struct Decoded {
    event: Event,
    warnings: Vec<String>,
}

type Result<T> = std::result::Result<T, ApiError>;

impl Api {
    pub fn new(store: Arc<Store>, res: Resource, bookmark_interval: Duration) -> Self {
        let events_v1 = res.is_standard().then(Resource::events_v1);
        Self {
            store,
            res,
            events_v1,
            bookmark_interval,
        }
    }

    /// A stored event as the stored resource serves it (for the admin port and the library).
    pub fn stored_object(&self, e: &Event) -> Value {
        Repr::Stored.object(e, &self.res.api_version())
    }

    /// Every stored event, ignoring scope, as the stored resource serves it.
    pub fn stored_json(&self) -> Vec<Value> {
        self.store
            .all()
            .iter()
            .map(|e| self.stored_object(e))
            .collect()
    }

    pub fn handle(&self, req: &ApiRequest<'_>) -> Response<Body> {
        match self.dispatch(req) {
            Ok(r) => r,
            Err(e) => respond::error(&e),
        }
    }

    /// The served version a path belongs to, and its route.
    fn resolve(&self, path: &str) -> Option<(View<'_>, Route)> {
        if let Some(r) = route(&self.res, path) {
            let view = View {
                res: &self.res,
                repr: Repr::Stored,
            };
            return Some((view, r));
        }
        let res = self.events_v1.as_ref()?;
        let view = View {
            res,
            repr: Repr::EventsV1,
        };
        route(res, path).map(|r| (view, r))
    }

    fn dispatch(&self, req: &ApiRequest<'_>) -> Result<Response<Body>> {
        let (v, route) = self.resolve(req.path).ok_or_else(ApiError::no_route)?;
        let q = Query::parse(req.query);
        let m = req.method;
        match (&route.target, route.legacy_watch) {
            (Target::Collection { namespace }, true) if m == Method::GET => {
                self.watch(v, req, &q, namespace.clone(), None)
            }
            (Target::Item { namespace, name }, true) if m == Method::GET => {
                self.watch(v, req, &q, Some(namespace.clone()), Some(name))
            }
            (_, true) => Err(ApiError::method_not_allowed()),
            (Target::Collection { namespace }, false) => match *m {
                Method::GET if q.flag("watch") => self.watch(v, req, &q, namespace.clone(), None),
                Method::GET => self.list(v, req, &q, namespace.as_deref()),
                Method::POST => match namespace {
                    Some(ns) => self.create(v, req, &q, ns),
                    None => Err(ApiError::method_not_allowed()),
                },
                Method::DELETE => match namespace {
                    Some(ns) => self.delete_collection(v, req, &q, ns),
                    None => Err(ApiError::method_not_allowed()),
                },
                _ => Err(ApiError::method_not_allowed()),
            },
            (Target::Item { namespace, name }, false) => match *m {
                Method::GET => self.get(v, req, &q, namespace, name),
                Method::PUT => self.update(v, req, &q, namespace, name),
                Method::PATCH => self.patch(v, req, &q, namespace, name),
                Method::DELETE => self.delete(v, req, &q, namespace, name),
                _ => Err(ApiError::method_not_allowed()),
            },
        }
    }

    // ---- reads ---------------------------------------------------------------------------

    fn get(
        &self,
        v: View<'_>,
        req: &ApiRequest<'_>,
        q: &Query,
        ns: &str,
        name: &str,
    ) -> Result<Response<Body>> {
        let out = output(req.headers)?;
        let include = IncludeObject::parse(q.get("includeObject"))?;
        let obj = self
            .store
            .get(ns, name)
            .filter(|o| req.scope.allows(o))
            .ok_or_else(|| ApiError::not_found(v.res, name))?;
        Ok(respond::json(200, &render_one(v, &obj, out, include)))
    }

    fn list(
        &self,
        v: View<'_>,
        req: &ApiRequest<'_>,
        q: &Query,
        ns: Option<&str>,
    ) -> Result<Response<Body>> {
        let out = output(req.headers)?;
        let include = IncludeObject::parse(q.get("includeObject"))?;
        let fields = field_selector(v, q)?;
        let labels = label_selector(q)?;
        let limit = match q.get("limit").filter(|l| !l.is_empty()) {
            None => None,
            Some(l) => Some(
                l.parse::<usize>()
                    .map_err(|_| ApiError::bad_request(format!("invalid limit: {l:?}")))?,
            )
            .filter(|l| *l > 0),
        };
        let cont = match q.get("continue").filter(|c| !c.is_empty()) {
            Some(c) => Some(pagination::decode(c).map_err(ApiError::bad_request)?),
            None => None,
        };
        let at = match &cont {
            Some(c) => Some(c.rv),
            None if q.get("resourceVersionMatch") == Some("Exact") => {
                Some(parse_rv(q.get("resourceVersion").unwrap_or(""))?)
            }
            None => None,
        };
        let (rv, objects) = self.store.snapshot(at).map_err(|e| match cont {
            Some(_) => ApiError::expired(
                "The provided continue parameter is too old to display a consistent list result. \
                 You can start a new list without the continue parameter.",
            ),
            None => ApiError::expired(format!(
                "too old resource version: {} ({})",
                e.requested, e.oldest
            )),
        })?;
        let mut visible: Vec<&Arc<Event>> = objects
            .iter()
            .filter(|o| ns.is_none_or(|n| model::namespace(o) == n))
            .filter(|o| req.scope.allows(o) && fields.matches(o) && labels.matches(o))
            .filter(|o| match &cont {
                Some(c) => {
                    (model::namespace(o), model::name(o)) > (c.after.0.as_str(), c.after.1.as_str())
                }
                None => true,
            })
            .collect();
        let mut list_meta = Map::new();
        list_meta.insert("resourceVersion".into(), json!(rv.to_string()));
        if let Some(limit) = limit {
            if visible.len() > limit {
                let remaining = visible.len() - limit;
                visible.truncate(limit);
                if let Some(last) = visible.last() {
                    let token = pagination::encode(&Continue {
                        rv,
                        after: (model::namespace(last).into(), model::name(last).into()),
                    });
                    list_meta.insert("continue".into(), json!(token));
                }
                // Like Kubernetes, only counted when no selector filtered the list.
                if fields.is_empty() && labels.is_empty() {
                    list_meta.insert("remainingItemCount".into(), json!(remaining));
                }
            }
        }
        let list_meta = Value::Object(list_meta);
        let items: Vec<&Event> = visible.iter().map(|o| o.as_ref()).collect();
        let body = match out {
            Output::Object => v.repr.list(items, list_meta, &v.api_version()),
            Output::Table { version } => table::table(
                &items,
                list_meta,
                true,
                table_shape(v, version, include),
                OffsetDateTime::now_utc(),
            ),
            Output::PartialMetadata { version } => json!({
                "kind": "PartialObjectMetadataList",
                "apiVersion": format!("meta.k8s.io/{version}"),
                "metadata": list_meta,
                "items": items.iter().map(|o| table::partial_metadata(o, version)).collect::<Vec<_>>(),
            }),
        };
        Ok(respond::json(200, &body))
    }

    fn watch(
        &self,
        v: View<'_>,
        req: &ApiRequest<'_>,
        q: &Query,
        ns: Option<String>,
        name: Option<&str>,
    ) -> Result<Response<Body>> {
        let out = output(req.headers)?;
        let include = IncludeObject::parse(q.get("includeObject"))?;
        let mut fields = field_selector(v, q)?;
        if let Some(name) = name {
            fields.requirements.push(FieldRequirement {
                field: "metadata.name".into(),
                op: FieldOp::Equals,
                value: name.to_string(),
            });
        }
        let labels = label_selector(q)?;
        let from = match q.get("resourceVersion").unwrap_or("") {
            "" | "0" => WatchFrom::Current,
            rv => WatchFrom::After(parse_rv(rv)?),
        };
        let timeout = match q.get("timeoutSeconds").filter(|t| !t.is_empty()) {
            None => None,
            Some(t) => Some(Duration::from_secs(t.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!("invalid timeoutSeconds: {t:?}"))
            })?)),
        };
        let w = Watcher {
            namespace: ns,
            scope: req.scope.clone(),
            fields,
            labels,
            output: out,
            include,
            repr: v.repr,
            api_version: v.api_version(),
            bookmarks: q.flag("allowWatchBookmarks"),
            bookmark_interval: self.bookmark_interval,
            timeout,
        };
        Ok(watch::start(&self.store, from, w))
    }

    // ---- writes --------------------------------------------------------------------------

    fn create(
        &self,
        v: View<'_>,
        req: &ApiRequest<'_>,
        q: &Query,
        ns: &str,
    ) -> Result<Response<Body>> {
        let WriteOptions {
            out,
            include,
            dry_run,
        } = write_options(req, q)?;
        let Decoded {
            event: obj,
            warnings,
        } = self.decode_body(v, req, q, ns, "CreateOptions")?;
        self.create_decoded(v, req, q, ns, obj, out, include, dry_run, &warnings)
            .map_err(|e| e.with_warnings(&warnings))
    }

    #[allow(clippy::too_many_arguments)]
    fn create_decoded(
        &self,
        v: View<'_>,
        req: &ApiRequest<'_>,
        q: &Query,
        ns: &str,
        mut obj: Event,
        out: Output,
        include: IncludeObject,
        dry_run: bool,
        warnings: &[String],
    ) -> Result<Response<Body>> {
        if !model::resource_version(&obj).is_empty() {
            return Err(ApiError::internal(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        let explicit = model::name(&obj).to_string();
        let generate = model::generate_name(&obj).to_string();
        if explicit.is_empty() && generate.is_empty() {
            return Err(ApiError::invalid(
                v.res,
                "",
                vec![Cause::required(
                    "metadata.name",
                    "name or generateName is required",
                )],
            ));
        }
        managed::record(
            &mut obj,
            None,
            v.repr,
            &v.api_version(),
            &field_manager(req, q),
        );
        obj.metadata.uid = Some(uuid::Uuid::new_v4().to_string());
        obj.metadata.creation_timestamp = Some(model::now());
        // A generated name can collide; Kubernetes retries a few times too.
        let attempts = if explicit.is_empty() { 8 } else { 1 };
        let mut last_err = None;
        for _ in 0..attempts {
            let name = if explicit.is_empty() {
                model::generated_name(&generate)
            } else {
                explicit.clone()
            };
            let mut candidate = obj.clone();
            candidate.metadata.name = Some(name.clone());
            check_create(v, &candidate)?;
            let result = self.store.write(ns, &name, dry_run, |cur| match cur {
                Some(_) => Err(ApiError::already_exists(v.res, &name)),
                None => Ok(Write::Create(candidate)),
            });
            match result {
                Ok(w) => {
                    let body = render_one(v, &w.object, out, include);
                    return Ok(respond::with_warnings(respond::json(201, &body), warnings));
                }
                Err(e) if e.reason == "AlreadyExists" && explicit.is_empty() => last_err = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| ApiError::internal("could not generate a unique name")))
    }

    fn update(
        &self,
        v: View<'_>,
        req: &ApiRequest<'_>,
        q: &Query,
        ns: &str,
        name: &str,
    ) -> Result<Response<Body>> {
        let WriteOptions {
            out,
            include,
            dry_run,
        } = write_options(req, q)?;
        let Decoded {
            event: obj,
            warnings,
        } = self.decode_body(v, req, q, ns, "UpdateOptions")?;
        if model::name(&obj) != name {
            return Err(name_mismatch(&obj, name).with_warnings(&warnings));
        }
        let manager = field_manager(req, q);
        let scope = &req.scope;
        let written = self.store.write(ns, name, dry_run, |cur| {
            let Some(cur) = cur.filter(|c| scope.allows(c)) else {
                if cur.is_some() || !model::resource_version(&obj).is_empty() {
                    return Err(ApiError::not_found(v.res, name));
                }
                // Events allow create-on-update, like kube-apiserver's event strategy (which
                // then validates it as a create).
                let mut created = obj;
                check_create(v, &created)?;
                managed::record(&mut created, None, v.repr, &v.api_version(), &manager);
                stamp_new(&mut created);
                return Ok(Write::Create(created));
            };
            self.replace(v, name, obj, cur, &manager)
        });
        let written = written.map_err(|e| e.with_warnings(&warnings))?;
        Ok(respond::with_warnings(
            written_response(v, &written, out, include),
            &warnings,
        ))
    }

    fn patch(
        &self,
        v: View<'_>,
        req: &ApiRequest<'_>,
        q: &Query,
        ns: &str,
        name: &str,
    ) -> Result<Response<Body>> {
        let WriteOptions {
            out,
            include,
            dry_run,
        } = write_options(req, q)?;
        let ct = content_type(req.headers);
        let kind = patch::patch_type(&ct).ok_or_else(|| {
            ApiError::unsupported_media_type(
                &ct,
                "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json",
            )
        })?;
        let fv = FieldValidation::parse(q.get("fieldValidation"), "PatchOptions")?;
        let manager = field_manager(req, q);
        let scope = &req.scope;
        let mut warnings = Vec::new();
        let written = self.store.write(ns, name, dry_run, |cur| {
            let cur = cur
                .filter(|c| scope.allows(c))
                .ok_or_else(|| ApiError::not_found(v.res, name))?;
            // Like kube-apiserver: the patch applies to the object in the requested version,
            // and the result is decoded as a body of that version.
            let patched = patch::apply(kind, &v.object(cur), req.body).map_err(|e| match e {
                PatchError::BadRequest(m) => ApiError::bad_request(m),
                PatchError::Invalid(m) => ApiError::new(422, "Invalid", m),
            })?;
            check_type_meta(v.res, &patched)?;
            let decoded = v
                .repr
                .decode(into_object(patched))
                .map_err(|e| codec::decode_error(&e, &v.res.version))?;
            warnings = fv.unknown_fields(&decoded.unknown, &v.res.version)?;
            let patched = decoded.event;
            if model::namespace(&patched) != ns {
                return Err(namespace_mismatch());
            }
            if model::name(&patched) != name {
                return Err(name_mismatch(&patched, name));
            }
            self.replace(v, name, patched, cur, &manager)
        });
        let written = written.map_err(|e| e.with_warnings(&warnings))?;
        Ok(respond::with_warnings(
            written_response(v, &written, out, include),
            &warnings,
        ))
    }

    /// The common part of update and patch once the new object is known: the resourceVersion
    /// precondition, server-owned metadata, the strategy's update rules and the field manager.
    fn replace(
        &self,
        v: View<'_>,
        name: &str,
        obj: Event,
        cur: &Event,
        manager: &str,
    ) -> Result<Write> {
        let rv = model::resource_version(&obj);
        if !rv.is_empty() && rv != model::resource_version(cur) {
            return Err(ApiError::conflict(
                v.res,
                name,
                "the object has been modified; please apply your changes to the latest version and try again",
            ));
        }
        let mut updated = carry_system_fields(v, name, obj, cur)?;
        let causes = validation::update(&updated, cur, v.rules());
        if !causes.is_empty() {
            return Err(ApiError::invalid(v.res, name, causes));
        }
        managed::record(&mut updated, Some(cur), v.repr, &v.api_version(), manager);
        Ok(Write::Replace(updated))
    }

    fn delete(
        &self,
        v: View<'_>,
        req: &ApiRequest<'_>,
        q: &Query,
        ns: &str,
        name: &str,
    ) -> Result<Response<Body>> {
        let dry_run = dry_run(q)?;
        let (pre_uid, pre_rv) = delete_preconditions(req.body)?;
        let res = v.res;
        let scope = &req.scope;
        let written = self.store.write(ns, name, dry_run, |cur| {
            let cur = cur
                .filter(|c| scope.allows(c))
                .ok_or_else(|| ApiError::not_found(res, name))?;
            let failed = |what: &str, wanted: &str, have: &str| {
                ApiError::conflict(
                    res,
                    name,
                    &format!("Precondition failed: {what} in precondition: {wanted}, {what} in object meta: {have}"),
                )
            };
            if let Some(uid) = pre_uid.as_deref().filter(|u| *u != model::uid(cur)) {
                return Err(failed("UID", uid, model::uid(cur)));
            }
            if let Some(rv) = pre_rv.as_deref().filter(|r| *r != model::resource_version(cur)) {
                return Err(failed("ResourceVersion", rv, model::resource_version(cur)));
            }
            Ok(Write::Delete)
        })?;
        Ok(respond::json(
            200,
            &status::delete_success(res, name, model::uid(&written.object)),
        ))
    }

    fn delete_collection(
        &self,
        v: View<'_>,
        req: &ApiRequest<'_>,
        q: &Query,
        ns: &str,
    ) -> Result<Response<Body>> {
        let dry_run = dry_run(q)?;
        let fields = field_selector(v, q)?;
        let labels = label_selector(q)?;
        let (_, objects) = self
            .store
            .snapshot(None)
            .map_err(|_| ApiError::internal("snapshot failed"))?;
        let mut deleted = Vec::new();
        for o in objects.iter().filter(|o| {
            model::namespace(o) == ns
                && req.scope.allows(o)
                && fields.matches(o)
                && labels.matches(o)
        }) {
            let name = model::name(o);
            let scope = &req.scope;
            // Skip objects that changed scope or vanished since the snapshot.
            if let Ok(w) = self.store.write(ns, name, dry_run, |cur| match cur {
                Some(c) if scope.allows(c) => Ok(Write::Delete),
                _ => Err(ApiError::not_found(v.res, name)),
            }) {
                deleted.push(w.object);
            }
        }
        let meta = json!({"resourceVersion": self.store.current_rv().to_string()});
        Ok(respond::json(
            200,
            &v.repr
                .list(deleted.iter().map(|e| e.as_ref()), meta, &v.api_version()),
        ))
    }

    // ---- helpers -------------------------------------------------------------------------

    /// A create or update body: JSON, `apiVersion`/`kind` of the requested version when set,
    /// decoded like the Go decoder (`fieldValidation` for unknown fields), namespace from the
    /// URL (400 when the body names another).
    fn decode_body(
        &self,
        v: View<'_>,
        req: &ApiRequest<'_>,
        q: &Query,
        ns: &str,
        options: &str,
    ) -> Result<Decoded> {
        let fv = FieldValidation::parse(q.get("fieldValidation"), options)?;
        let ct = content_type(req.headers);
        let media = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if !matches!(media.as_str(), "" | "application/json" | "*/*") {
            return Err(ApiError::unsupported_media_type(&ct, "application/json"));
        }
        let obj: Value = serde_json::from_slice(req.body).map_err(|e| {
            ApiError::bad_request(format!(
                "the body of the request could not be decoded as JSON: {e}"
            ))
        })?;
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be a JSON object",
            ));
        }
        check_type_meta(v.res, &obj)?;
        let decoded = v
            .repr
            .decode(into_object(obj))
            .map_err(|e| codec::decode_error(&e, &v.res.version))?;
        let warnings = fv.unknown_fields(&decoded.unknown, &v.res.version)?;
        let mut event = decoded.event;
        match model::namespace(&event) {
            "" => event.metadata.namespace = Some(ns.to_string()),
            n if n == ns => {}
            _ => return Err(namespace_mismatch().with_warnings(&warnings)),
        }
        Ok(Decoded { event, warnings })
    }
}

/// What every write answers with: the negotiated shape, and whether it is a dry run.
struct WriteOptions {
    out: Output,
    include: IncludeObject,
    dry_run: bool,
}

fn write_options(req: &ApiRequest<'_>, q: &Query) -> Result<WriteOptions> {
    Ok(WriteOptions {
        out: output(req.headers)?,
        include: IncludeObject::parse(q.get("includeObject"))?,
        dry_run: dry_run(q)?,
    })
}

/// The metadata the server sets on a new object.
fn stamp_new(e: &mut Event) {
    e.metadata.uid = Some(uuid::Uuid::new_v4().to_string());
    e.metadata.creation_timestamp = Some(model::now());
}

/// The strategy's create rules, then the common name rule (apiserver's `BeforeCreate` order).
fn check_create(v: View<'_>, e: &Event) -> Result<()> {
    let name = model::name(e);
    let causes = validation::create(e, v.rules());
    if !causes.is_empty() {
        return Err(ApiError::invalid(v.res, name, causes));
    }
    match v.name_rule(name) {
        Some(cause) => Err(ApiError::invalid(v.res, name, vec![cause])),
        None => Ok(()),
    }
}

/// Keeps server-owned metadata across an update: uid (immutable) and creationTimestamp.
fn carry_system_fields(v: View<'_>, name: &str, mut obj: Event, cur: &Event) -> Result<Event> {
    let uid = model::uid(&obj);
    if !uid.is_empty() && uid != model::uid(cur) {
        return Err(ApiError::invalid(
            v.res,
            name,
            vec![Cause::invalid(
                "metadata.uid",
                &crate::gojson::quote(uid),
                "field is immutable",
            )],
        ));
    }
    obj.metadata.uid = cur.metadata.uid.clone();
    obj.metadata.creation_timestamp = cur.metadata.creation_timestamp.clone();
    Ok(obj)
}

fn into_object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// `managerOrUserAgent` of this request.
fn field_manager(req: &ApiRequest<'_>, q: &Query) -> String {
    let agent = req
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    managed::manager(q.get("fieldManager"), agent)
}

/// apiVersion/kind in a body are optional, but when present must be this resource's.
fn check_type_meta(res: &Resource, obj: &Value) -> Result<()> {
    let expected = res.api_version();
    if let Some(v) = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
    {
        if v != expected {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({expected})"
            )));
        }
    }
    if let Some(k) = obj
        .get("kind")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
    {
        if k != "Event" {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind (Event)"
            )));
        }
    }
    Ok(())
}

fn written_response(
    v: View<'_>,
    w: &Written,
    out: Output,
    include: IncludeObject,
) -> Response<Body> {
    let code = match w.kind {
        crate::store::ChangeType::Added => 201,
        _ => 200,
    };
    respond::json(code, &render_one(v, &w.object, out, include))
}

fn table_shape(v: View<'_>, version: &'static str, include: IncludeObject) -> TableShape {
    TableShape {
        version,
        include,
        repr: v.repr,
        api_version: v.api_version(),
    }
}

/// A single stored object in the negotiated shape of the requested version.
fn render_one(v: View<'_>, obj: &Event, out: Output, include: IncludeObject) -> Value {
    match out {
        Output::Object => v.object(obj),
        Output::PartialMetadata { version } => table::partial_metadata(obj, version),
        Output::Table { version } => table::table(
            &[obj],
            json!({"resourceVersion": model::resource_version(obj)}),
            true,
            table_shape(v, version, include),
            OffsetDateTime::now_utc(),
        ),
    }
}

fn output(headers: &HeaderMap) -> Result<Output> {
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    negotiate::negotiate(Some(&accept))
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// The `fieldSelector`, in the labels of the requested version.
fn field_selector(v: View<'_>, q: &Query) -> Result<FieldSelector> {
    FieldSelector::parse(q.get("fieldSelector").unwrap_or(""), v.repr)
        .map_err(ApiError::bad_request)
}

fn label_selector(q: &Query) -> Result<LabelSelector> {
    LabelSelector::parse(q.get("labelSelector").unwrap_or("")).map_err(ApiError::bad_request)
}

fn parse_rv(rv: &str) -> Result<u64> {
    rv.parse::<u64>()
        .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv:?}")))
}

fn dry_run(q: &Query) -> Result<bool> {
    match q.get("dryRun") {
        None | Some("") => Ok(false),
        Some("All") => Ok(true),
        Some(v) => Err(ApiError::bad_request(format!(
            "Invalid dry run value: {v:?}: supported values: \"All\""
        ))),
    }
}

fn namespace_mismatch() -> ApiError {
    ApiError::bad_request(
        "the namespace of the provided object does not match the namespace sent on the request",
    )
}

fn name_mismatch(obj: &Event, name: &str) -> ApiError {
    ApiError::bad_request(format!(
        "the name of the object ({}) does not match the name on the URL ({})",
        model::name(obj),
        name
    ))
}

/// `DeleteOptions.preconditions` from an optional JSON body.
fn delete_preconditions(body: &[u8]) -> Result<(Option<String>, Option<String>)> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok((None, None));
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?;
    let pre = v.get("preconditions");
    let get = |k: &str| {
        pre.and_then(|p| p.get(k))
            .and_then(Value::as_str)
            .map(String::from)
    };
    Ok((get("uid"), get("resourceVersion")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let res = Resource::from_prefix("/apis/activity.miloapis.com/v1alpha1").unwrap();
        let p = |s: &str| route(&res, s);
        assert_eq!(
            p("/apis/activity.miloapis.com/v1alpha1/namespaces/ns/events")
                .unwrap()
                .target,
            Target::Collection {
                namespace: Some("ns".into())
            }
        );
        assert_eq!(
            p("/apis/activity.miloapis.com/v1alpha1/events")
                .unwrap()
                .target,
            Target::Collection { namespace: None }
        );
        assert_eq!(
            p("/apis/activity.miloapis.com/v1alpha1/namespaces/ns/events/e1")
                .unwrap()
                .target,
            Target::Item {
                namespace: "ns".into(),
                name: "e1".into()
            }
        );
        let w = p("/apis/activity.miloapis.com/v1alpha1/watch/namespaces/ns/events").unwrap();
        assert!(w.legacy_watch);
        assert!(p("/api/v1/namespaces/ns/events").is_none());
        assert!(p("/apis/activity.miloapis.com/v1alpha1/namespaces//events").is_none());
        assert!(p("/apis/activity.miloapis.com/v1alpha1/pods").is_none());
        assert!(p("/apis/activity.miloapis.com/v1alpha1x/events").is_none());
    }

    #[test]
    fn standard_mode_also_resolves_events_v1() {
        let store = Arc::new(Store::new());
        let standard = Api::new(
            store.clone(),
            Resource::from_prefix("/api/v1").unwrap(),
            Duration::from_secs(1),
        );
        let (v, r) = standard
            .resolve("/apis/events.k8s.io/v1/namespaces/ns/events/e")
            .unwrap();
        assert_eq!(v.repr, Repr::EventsV1);
        assert_eq!(v.res.api_version(), "events.k8s.io/v1");
        assert_eq!(
            r.target,
            Target::Item {
                namespace: "ns".into(),
                name: "e".into()
            }
        );
        let (v, r) = standard
            .resolve("/apis/events.k8s.io/v1/watch/events")
            .unwrap();
        assert!(v.repr == Repr::EventsV1 && r.legacy_watch);
        let (v, _) = standard.resolve("/api/v1/events").unwrap();
        assert_eq!(v.repr, Repr::Stored);
        assert!(standard
            .resolve("/apis/events.k8s.io/v1beta1/events")
            .is_none());

        let activity = Api::new(
            store,
            Resource::from_prefix("/apis/activity.miloapis.com/v1alpha1").unwrap(),
            Duration::from_secs(1),
        );
        assert!(activity.events_v1.is_none());
        assert!(activity.resolve("/apis/events.k8s.io/v1/events").is_none());
    }

    #[test]
    fn query_flags_follow_kubernetes_bool_rules() {
        let q = Query::parse(Some(
            "watch=1&a=true&b=0&c=false&d=&e=No&fieldSelector=reason%3DX",
        ));
        assert!(q.flag("watch"));
        assert!(q.flag("a"));
        assert!(!q.flag("b"));
        assert!(!q.flag("c"));
        assert!(q.flag("d"));
        assert!(!q.flag("e"));
        assert!(!q.flag("missing"));
        assert_eq!(q.get("fieldSelector"), Some("reason=X"));
    }

    #[test]
    fn delete_options_preconditions() {
        assert_eq!(delete_preconditions(b"").unwrap(), (None, None));
        assert_eq!(
            delete_preconditions(br#"{"kind":"DeleteOptions","preconditions":{"uid":"u"}}"#)
                .unwrap(),
            (Some("u".into()), None)
        );
        assert!(delete_preconditions(b"{").is_err());
    }
}
