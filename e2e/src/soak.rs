//! The fault soak: mixed traffic from several tenants (creates, patches, lists, reads of other
//! tenants' events, watches) through the Milo sandbox (real Envoy, the built filter, the
//! authorizer, the Milo stand-in) while the Activity stand-in injects faults at random rates:
//! resets before and after it stores, 503s (with and without Retry-After), 429s, slow answers,
//! watches cut mid-stream. Then it checks what the clients were told against what was stored
//! and what the watches saw, and that the VM neither crashed nor grew. `scripts/soak.sh` runs it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use activity_standin::FaultSpec;
use anyhow::Result;
use serde_json::{json, Value};

use crate::milo_sandbox::{MiloSandbox, ORG_PATH, PROJECT_PATH, USER_PATH};

const NAMESPACE: &str = "default";
const SCOPE_TYPE: &str = "platform.miloapis.com/scope.type";
const SCOPE_NAME: &str = "platform.miloapis.com/scope.name";
const OP_LABEL: &str = "soak-op";

#[derive(Debug, Clone)]
pub struct Options {
    pub seconds: u64,
    /// Concurrent writers per tenant (each tenant also has one watcher).
    pub clients_per_tenant: usize,
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            seconds: 60,
            clients_per_tenant: 2,
            seed: 11,
        }
    }
}

/// The figures and the broken promises.
#[derive(Debug, Default)]
pub struct Report {
    pub figures: String,
    pub violations: Vec<String>,
    pub counts: BTreeMap<String, u64>,
    pub faults: BTreeMap<String, u64>,
}

struct Tenant {
    name: &'static str,
    path: &'static str,
    user: &'static str,
    /// The scope Milo's URL gives its requests; None for the platform.
    scope: Option<(&'static str, &'static str)>,
}

const TENANTS: [Tenant; 4] = [
    Tenant {
        name: "platform",
        path: "",
        user: "admin",
        scope: None,
    },
    Tenant {
        name: "org",
        path: ORG_PATH,
        user: "alice",
        scope: Some(("Organization", "acme")),
    },
    Tenant {
        name: "project",
        path: PROJECT_PATH,
        user: "bob",
        scope: Some(("Project", "web-app")),
    },
    Tenant {
        name: "user",
        path: USER_PATH,
        user: "alice",
        scope: Some(("User", "uid-alice")),
    },
];

fn scope_of(obj: &Value) -> Option<(String, String)> {
    let a = &obj["metadata"]["annotations"];
    match (a[SCOPE_TYPE].as_str(), a[SCOPE_NAME].as_str()) {
        (None, None) => None,
        (t, n) => Some((
            t.unwrap_or_default().to_owned(),
            n.unwrap_or_default().to_owned(),
        )),
    }
}

fn in_view(t: &Tenant, obj: &Value) -> bool {
    match t.scope {
        None => true,
        Some((ty, name)) => scope_of(obj) == Some((ty.to_owned(), name.to_owned())),
    }
}

/// What a client was told about a create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Told {
    Created,
    /// Activity itself answered with an error: it did not store it.
    Refused(u16),
    /// Envoy answered (reset, timeout) or the connection failed: it may have been stored.
    Unknown(u16),
}

#[derive(Default)]
struct Ledger {
    counts: BTreeMap<String, u64>,
    creates: Vec<(String, usize, Told)>,
    /// (tenant, name) of every create the client was told succeeded.
    created: Vec<(usize, String)>,
    violations: Vec<String>,
}

impl Ledger {
    fn count(&mut self, key: impl Into<String>) {
        *self.counts.entry(key.into()).or_default() += 1;
    }
}

type Shared = Arc<Mutex<Ledger>>;

fn lock(l: &Shared) -> std::sync::MutexGuard<'_, Ledger> {
    l.lock().unwrap_or_else(|p| p.into_inner())
}

/// xorshift64*, one per client, so a run is repeatable for a seed (up to timing).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The faults the stand-in injects for the whole run, each at its rate.
fn faults() -> Vec<FaultSpec> {
    let specs = [
        json!({"action": "reset", "rate": 0.02}),
        json!({"action": "reset", "phase": "after", "rate": 0.02}),
        json!({"action": "status", "status": 503, "rate": 0.02}),
        json!({"action": "status", "status": 503, "retryAfter": 1, "rate": 0.01}),
        json!({"action": "status", "status": 429, "rate": 0.01}),
        json!({"action": "delay", "millis": 400, "rate": 0.03}),
        json!({"action": "delay", "millis": 400, "phase": "after", "rate": 0.03}),
        json!({"action": "cut", "afterChunks": 1, "pathContains": "watch=true", "rate": 0.2}),
        json!({"action": "cut", "afterChunks": 4, "pathContains": "watch=true", "rate": 0.3}),
        json!({"action": "cut", "afterChunks": 12, "pathContains": "watch=true", "rate": 0.3}),
    ];
    specs
        .into_iter()
        .filter_map(|s| serde_json::from_value(s).ok())
        .collect()
}

struct Ctx {
    sandbox: Arc<MiloSandbox>,
    ledger: Shared,
    tokens: Vec<String>,
}

impl Ctx {
    fn url(&self, t: usize, rest: &str) -> Result<String> {
        self.sandbox.url(&format!("{}{rest}", TENANTS[t].path))
    }

    fn request(
        &self,
        t: usize,
        method: reqwest::Method,
        rest: &str,
    ) -> Result<reqwest::RequestBuilder> {
        Ok(self
            .sandbox
            .http()
            .request(method, self.url(t, rest)?)
            .bearer_auth(&self.tokens[t])
            .timeout(Duration::from_secs(40)))
    }
}

fn create_body(op: &str, events_v1: bool) -> Value {
    let meta = json!({"generateName": "soak-", "namespace": NAMESPACE, "labels": {OP_LABEL: op}});
    if events_v1 {
        json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": meta,
            "eventTime": "2026-12-01T08:00:00.000000Z",
            "reportingController": "example.com/soak", "reportingInstance": "soak-0",
            "action": "Soaking", "reason": "Soak", "type": "Normal", "note": format!("op {op}"),
            "regarding": {"apiVersion": "v1", "kind": "Pod", "name": "p", "namespace": NAMESPACE}
        })
    } else {
        json!({
            "apiVersion": "v1", "kind": "Event", "metadata": meta,
            "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": "p", "namespace": NAMESPACE},
            "reason": "Soak", "message": format!("op {op}"), "type": "Normal", "count": 1
        })
    }
}

/// An answer Activity gave (Envoy adds its upstream timing) versus one Envoy made up.
fn from_activity(resp: &reqwest::Response) -> bool {
    resp.headers().contains_key("x-envoy-upstream-service-time")
}

async fn create(ctx: &Ctx, t: usize, op: String, rng: &mut Rng) -> Result<()> {
    let events_v1 = rng.below(4) == 0;
    let path = if events_v1 {
        format!("/apis/events.k8s.io/v1/namespaces/{NAMESPACE}/events")
    } else {
        format!("/api/v1/namespaces/{NAMESPACE}/events")
    };
    let sent = ctx
        .request(t, reqwest::Method::POST, &path)?
        .json(&create_body(&op, events_v1))
        .send()
        .await;
    let (told, name) = match sent {
        Err(_) => (Told::Unknown(0), None),
        Ok(resp) => {
            let code = resp.status().as_u16();
            let upstream = from_activity(&resp);
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            match code {
                201 => (
                    Told::Created,
                    body["metadata"]["name"].as_str().map(str::to_owned),
                ),
                _ if upstream => (Told::Refused(code), None),
                _ => (Told::Unknown(code), None),
            }
        }
    };
    let mut l = lock(&ctx.ledger);
    let key = match told {
        Told::Created => "create: 201".to_owned(),
        Told::Refused(c) => format!("create: {c} from Activity"),
        Told::Unknown(c) => format!("create: {c} from Envoy (outcome unknown)"),
    };
    l.count(key);
    if let Some(name) = name {
        l.created.push((t, name));
    } else if told == Told::Created {
        l.violations
            .push(format!("create {op}: 201 without a name"));
    }
    l.creates.push((op, t, told));
    Ok(())
}

async fn patch(ctx: &Ctx, t: usize, rng: &mut Rng) -> Result<()> {
    let target = {
        let l = lock(&ctx.ledger);
        let mine: Vec<&String> = l
            .created
            .iter()
            .filter(|(o, _)| *o == t)
            .map(|(_, n)| n)
            .collect();
        if mine.is_empty() {
            return Ok(());
        }
        mine[rng.below(mine.len())].clone()
    };
    let resp = ctx
        .request(
            t,
            reqwest::Method::PATCH,
            &format!("/api/v1/namespaces/{NAMESPACE}/events/{target}"),
        )?
        .header("content-type", "application/merge-patch+json")
        .body(json!({"message": format!("patched {}", rng.next() % 1000)}).to_string())
        .send()
        .await;
    let mut l = lock(&ctx.ledger);
    match resp {
        Err(_) => l.count("patch: connection failed"),
        Ok(r) => {
            let code = r.status().as_u16();
            if code == 404 {
                l.violations.push(format!(
                    "{}: patch of its own event {target}: 404",
                    TENANTS[t].name
                ));
            }
            l.count(format!("patch: {code}"));
        }
    }
    Ok(())
}

async fn list(ctx: &Ctx, t: usize) -> Result<()> {
    let resp = ctx
        .request(
            t,
            reqwest::Method::GET,
            &format!("/api/v1/namespaces/{NAMESPACE}/events"),
        )?
        .send()
        .await;
    let Ok(resp) = resp else {
        lock(&ctx.ledger).count("list: connection failed");
        return Ok(());
    };
    let code = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    let mut l = lock(&ctx.ledger);
    l.count(format!("list: {code}"));
    if code == 200 {
        if body["kind"] != "EventList" || body["apiVersion"] != "v1" {
            l.violations.push(format!(
                "{}: list answered {} {}",
                TENANTS[t].name, body["apiVersion"], body["kind"]
            ));
        }
        for item in body["items"].as_array().into_iter().flatten() {
            if !in_view(&TENANTS[t], item) {
                l.violations.push(format!(
                    "{}: listed another tenant's event {} ({:?})",
                    TENANTS[t].name,
                    item["metadata"]["name"],
                    scope_of(item)
                ));
            }
        }
    }
    Ok(())
}

/// A tenant reads an event another tenant created: it must not exist for it.
async fn foreign_get(ctx: &Ctx, t: usize, rng: &mut Rng) -> Result<()> {
    if TENANTS[t].scope.is_none() {
        return Ok(());
    }
    let target = {
        let l = lock(&ctx.ledger);
        let theirs: Vec<&String> = l
            .created
            .iter()
            .filter(|(o, _)| *o != t)
            .map(|(_, n)| n)
            .collect();
        if theirs.is_empty() {
            return Ok(());
        }
        theirs[rng.below(theirs.len())].clone()
    };
    let resp = ctx
        .request(
            t,
            reqwest::Method::GET,
            &format!("/api/v1/namespaces/{NAMESPACE}/events/{target}"),
        )?
        .send()
        .await;
    let mut l = lock(&ctx.ledger);
    match resp {
        Err(_) => l.count("foreign get: connection failed"),
        Ok(r) => {
            let code = r.status().as_u16();
            if code == 200 {
                l.violations.push(format!(
                    "{}: read another tenant's event {target}",
                    TENANTS[t].name
                ));
            }
            l.count(format!("foreign get: {code}"));
        }
    }
    Ok(())
}

async fn writer(ctx: Arc<Ctx>, t: usize, client: usize, seed: u64, deadline: Instant) {
    let mut rng = Rng(seed.wrapping_mul(31).wrapping_add((t * 97 + client) as u64) | 1);
    let mut seq = 0u64;
    while Instant::now() < deadline {
        let r = match rng.below(10) {
            0..=4 => {
                seq += 1;
                let op = format!("{}-{client}-{seq}", TENANTS[t].name);
                create(&ctx, t, op, &mut rng).await
            }
            5 | 6 => patch(&ctx, t, &mut rng).await,
            7 | 8 => list(&ctx, t).await,
            _ => foreign_get(&ctx, t, &mut rng).await,
        };
        if let Err(e) = r {
            lock(&ctx.ledger)
                .violations
                .push(format!("client error: {e:#}"));
            return;
        }
    }
}

/// What one tenant's watcher saw.
#[derive(Debug, Default)]
struct Seen {
    added: HashSet<String>,
    events: u64,
    bookmarks: u64,
    /// Watches started (the first one, then one per resume).
    watches: u64,
    /// Streams that broke off mid-way (a cut or a reset).
    broken: u64,
    /// Watch requests refused (5xx after retries) before any event.
    refused: u64,
    violations: Vec<String>,
}

/// Lists once, then watches from that resourceVersion, resuming from the last one seen after
/// every end or break, until `stop`.
async fn watcher(ctx: Arc<Ctx>, t: usize, stop: Arc<AtomicBool>) -> Seen {
    let tenant = &TENANTS[t];
    let mut seen = Seen::default();
    let mut rv: Option<u64> = None;
    let mut last: u64 = 0;
    while !stop.load(Ordering::SeqCst) {
        let Some(from) = rv else {
            let listed = async {
                let r = ctx
                    .request(
                        t,
                        reqwest::Method::GET,
                        &format!("/api/v1/namespaces/{NAMESPACE}/events"),
                    )?
                    .send()
                    .await?;
                anyhow::ensure!(r.status() == 200, "list {}", r.status());
                let v: Value = r.json().await?;
                anyhow::ensure!(
                    v["items"].as_array().is_some_and(Vec::is_empty),
                    "not empty at start"
                );
                Ok::<u64, anyhow::Error>(
                    v["metadata"]["resourceVersion"]
                        .as_str()
                        .unwrap_or("0")
                        .parse()?,
                )
            };
            match listed.await {
                Ok(v) => {
                    rv = Some(v);
                    last = v;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
            continue;
        };
        let url = match ctx.url(t, &format!(
            "/api/v1/namespaces/{NAMESPACE}/events?watch=true&allowWatchBookmarks=true&timeoutSeconds=5&resourceVersion={from}"
        )) {
            Ok(u) => u,
            Err(e) => {
                seen.violations.push(format!("{}: {e:#}", tenant.name));
                return seen;
            }
        };
        let req = ctx.sandbox.http().get(url);
        let resp = match req.bearer_auth(&ctx.tokens[t]).send().await {
            Ok(r) if r.status() == 200 => r,
            _ => {
                seen.refused += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        seen.watches += 1;
        let mut resp = resp;
        let mut buf: Vec<u8> = Vec::new();
        loop {
            let chunk = tokio::select! {
                c = resp.chunk() => c,
                _ = async { while !stop.load(Ordering::SeqCst) { tokio::time::sleep(Duration::from_millis(100)).await } } => break,
            };
            match chunk {
                Ok(Some(bytes)) => buf.extend_from_slice(&bytes),
                Ok(None) => break,
                Err(_) => {
                    seen.broken += 1;
                    break;
                }
            }
            while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=nl).collect();
                let Ok(ev) = serde_json::from_slice::<Value>(&line) else {
                    seen.violations.push(format!(
                        "{}: watch line is not JSON: {}",
                        tenant.name,
                        String::from_utf8_lossy(&line)
                    ));
                    continue;
                };
                let kind = ev["type"].as_str().unwrap_or_default();
                let obj = &ev["object"];
                let orv: u64 = obj["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or("0")
                    .parse()
                    .unwrap_or(0);
                match kind {
                    "BOOKMARK" => {
                        seen.bookmarks += 1;
                        if orv < last {
                            seen.violations
                                .push(format!("{}: bookmark {orv} behind {last}", tenant.name));
                        }
                        last = last.max(orv);
                    }
                    "ADDED" | "MODIFIED" | "DELETED" => {
                        seen.events += 1;
                        // A watch from resourceVersion 0 ("any": nothing seen yet, e.g. the
                        // first watch broke before its first event) starts with the current
                        // state as ADDED events in the server's order, not resourceVersion
                        // order; they are still checked for duplicates below.
                        let initial_state = from == 0 && kind == "ADDED";
                        if orv <= last && !initial_state {
                            seen.violations.push(format!(
                                "{}: {kind} at {orv} after {last}: repeated or out of order",
                                tenant.name
                            ));
                        }
                        last = last.max(orv);
                        if obj["apiVersion"] != "v1" || obj["kind"] != "Event" {
                            seen.violations.push(format!(
                                "{}: watch object {} {}",
                                tenant.name, obj["apiVersion"], obj["kind"]
                            ));
                        }
                        if !in_view(tenant, obj) {
                            seen.violations.push(format!(
                                "{}: watched another tenant's event {} ({:?})",
                                tenant.name,
                                obj["metadata"]["name"],
                                scope_of(obj)
                            ));
                        }
                        let name = obj["metadata"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned();
                        if kind == "ADDED" && !seen.added.insert(name.clone()) {
                            seen.violations
                                .push(format!("{}: ADDED twice: {name}", tenant.name));
                        }
                    }
                    _ => seen
                        .violations
                        .push(format!("{}: watch event {kind}: {obj}", tenant.name)),
                }
            }
            rv = Some(last);
        }
    }
    seen
}

fn gauge(stats: &str, name: &str) -> u64 {
    stats
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

const VM_MEMORY: &str = "wasmcustom.activity_events.wasm_memory_bytes";
const ENVOY_MEMORY: &str = "server.memory_allocated";
const VMS_CREATED: &str = "wasm.envoy.wasm.runtime.v8.created";

pub async fn run(opts: Options) -> Result<Report> {
    let sandbox = Arc::new(MiloSandbox::start("soak", "/api/v1").await?);
    sandbox.activity.seed_faults(opts.seed);
    let tokens = TENANTS
        .iter()
        .map(|t| sandbox.token(t.user))
        .collect::<Result<Vec<_>>>()?;
    let ctx = Arc::new(Ctx {
        sandbox: sandbox.clone(),
        ledger: Arc::default(),
        tokens,
    });
    let stats_before = sandbox.envoy.stats()?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(opts.seconds);

    for f in faults() {
        sandbox.activity.push_fault(f)?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let watchers: Vec<_> = (0..TENANTS.len())
        .map(|t| tokio::spawn(watcher(ctx.clone(), t, stop.clone())))
        .collect();
    // The watchers list first, while the store is still empty.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let writers: Vec<_> = (0..TENANTS.len())
        .flat_map(|t| (0..opts.clients_per_tenant).map(move |c| (t, c)))
        .map(|(t, c)| tokio::spawn(writer(ctx.clone(), t, c, opts.seed, deadline)))
        .collect();

    // Memory every 2 s: the VM's linear memory (the filter's gauge) and Envoy's heap.
    let mut samples: Vec<(u64, u64, u64)> = Vec::new();
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let s = sandbox.envoy.stats()?;
        samples.push((
            started.elapsed().as_secs(),
            gauge(&s, VM_MEMORY),
            gauge(&s, ENVOY_MEMORY),
        ));
    }
    for w in writers {
        w.await?;
    }
    let applied = sandbox.activity.faults_applied();
    sandbox.activity.clear_faults();

    // Let the watchers catch up with everything stored, then stop them.
    let stored: Vec<Value> = sandbox
        .activity
        .events()
        .into_iter()
        .filter(|e| e["metadata"]["namespace"] == NAMESPACE)
        .collect();
    let catch_up = Instant::now();
    while catch_up.elapsed() < Duration::from_secs(8) {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let mut seen = Vec::new();
    for w in watchers {
        seen.push(w.await?);
    }
    let stats_after = sandbox.envoy.stats()?;

    let mut report = Report::default();
    let ledger = std::mem::take(&mut *lock(&ctx.ledger));
    report.violations = ledger.violations;
    report.counts = ledger.counts;
    report.faults = applied;

    // Every create against the store.
    let mut copies: HashMap<String, Vec<&Value>> = HashMap::new();
    for e in &stored {
        if let Some(op) = e["metadata"]["labels"][OP_LABEL].as_str() {
            copies.entry(op.to_owned()).or_default().push(e);
        }
    }
    let mut unknown_stored = (0u64, 0u64);
    for (op, t, told) in &ledger.creates {
        let found = copies.get(op).map_or(0, Vec::len);
        let bad = match told {
            Told::Created => found != 1,
            Told::Refused(_) => found != 0,
            Told::Unknown(_) => found > 1,
        };
        if let Told::Unknown(_) = told {
            if found == 1 {
                unknown_stored.0 += 1;
            } else {
                unknown_stored.1 += 1;
            }
        }
        if bad {
            report
                .violations
                .push(format!("create {op}: told {told:?}, stored {found} times"));
        }
        for e in copies.get(op).into_iter().flatten() {
            let want = TENANTS[*t].scope.map(|(a, b)| (a.to_owned(), b.to_owned()));
            if scope_of(e) != want {
                report.violations.push(format!(
                    "create {op} by {} stored with scope {:?}",
                    TENANTS[*t].name,
                    scope_of(e)
                ));
            }
        }
    }
    let ops: HashSet<&String> = ledger.creates.iter().map(|(op, _, _)| op).collect();
    for op in copies.keys() {
        if !ops.contains(op) {
            report
                .violations
                .push(format!("stored {op}, which no client sent"));
        }
    }

    // Every watcher saw exactly its view of the store.
    for (t, s) in seen.iter_mut().enumerate() {
        report.violations.append(&mut s.violations);
        let view: HashSet<String> = stored
            .iter()
            .filter(|e| in_view(&TENANTS[t], e))
            .filter_map(|e| e["metadata"]["name"].as_str().map(str::to_owned))
            .collect();
        let missed = view.difference(&s.added).count();
        let extra = s.added.difference(&view).count();
        if missed > 0 || extra > 0 {
            report.violations.push(format!(
                "{}: watch missed {missed} of {} stored events and saw {extra} not in its view",
                TENANTS[t].name,
                view.len()
            ));
        }
    }

    // The VM and Envoy.
    for name in [
        "vm_reload_success",
        "vm_reload_failure",
        "vm_reload_backoff",
    ] {
        let v = gauge(&stats_after, &format!("wasm.activity_events.{name}"));
        if v > 0 {
            report
                .violations
                .push(format!("wasm.activity_events.{name} = {v}: the VM failed"));
        }
    }
    if gauge(&stats_after, VMS_CREATED) != gauge(&stats_before, VMS_CREATED) {
        report.violations.push(format!(
            "VMs were created during the soak: {VMS_CREATED} {} -> {}",
            gauge(&stats_before, VMS_CREATED),
            gauge(&stats_after, VMS_CREATED)
        ));
    }
    let log = sandbox.envoy.log();
    for needle in [
        "Wasm VM failed",
        "panicked",
        "Caught Segmentation",
        "critical",
    ] {
        let n = log.matches(needle).count();
        if n > 0 {
            report
                .violations
                .push(format!("envoy log: {n} × {needle:?}"));
        }
    }
    let alive = sandbox
        .http()
        .get(sandbox.url("/api/v1/namespaces/default/events")?)
        .bearer_auth(&ctx.tokens[0])
        .send()
        .await
        .map(|r| r.status().as_u16());
    if !matches!(alive, Ok(200)) {
        report
            .violations
            .push(format!("Envoy does not answer after the soak: {alive:?}"));
    }
    // Flat: after the first quarter (warm-up), the VM's memory does not grow.
    let warm_at = samples.len() / 4;
    let vm_warm = samples.get(warm_at).map_or(0, |s| s.1);
    let vm_end = samples.last().map_or(0, |s| s.1);
    let vm_start = samples.first().map_or(0, |s| s.1);
    if samples.len() >= 4 && vm_end > vm_warm {
        report.violations.push(format!(
            "VM memory grew after warm-up: {vm_warm} -> {vm_end} bytes"
        ));
    }

    // The figures.
    let mut f = String::new();
    let elapsed = started.elapsed().as_secs_f64();
    let _ = writeln!(
        f,
        "soak: {:.0} s, {} tenants × {} writers + 1 watcher each, seed {}",
        elapsed,
        TENANTS.len(),
        opts.clients_per_tenant,
        opts.seed
    );
    let total: u64 = report.counts.values().sum();
    let _ = writeln!(
        f,
        "client requests: {total} ({:.0}/s), by kind and answer:",
        total as f64 / elapsed
    );
    for (k, v) in &report.counts {
        let _ = writeln!(f, "  {k}: {v}");
    }
    let mut by_method: BTreeMap<String, u64> = BTreeMap::new();
    for r in sandbox.activity.requests() {
        *by_method.entry(r.method.clone()).or_default() += 1;
        if r.path.contains("watch=true") {
            *by_method.entry("(of which watches)".into()).or_default() += 1;
        }
    }
    let _ = writeln!(f, "requests Activity received: {by_method:?}");
    let _ = writeln!(f, "faults injected: {:?}", report.faults);
    let creates = ledger.creates.len();
    let told_ok = ledger
        .creates
        .iter()
        .filter(|c| c.2 == Told::Created)
        .count();
    let refused = ledger
        .creates
        .iter()
        .filter(|c| matches!(c.2, Told::Refused(_)))
        .count();
    let _ = writeln!(
        f,
        "creates: {creates} sent; {told_ok} told created (each stored once: checked); {refused} refused by Activity (none stored: checked); {} outcome unknown ({} stored once, {} not stored, none twice: checked)",
        creates - told_ok - refused,
        unknown_stored.0,
        unknown_stored.1
    );
    let _ = writeln!(f, "stored events: {}", stored.len());
    for (t, s) in seen.iter().enumerate() {
        let _ = writeln!(
            f,
            "watch {}: {} watches ({} resumed), {} broke mid-stream, {} refused, {} events, {} bookmarks, {} ADDED = its view",
            TENANTS[t].name,
            s.watches,
            s.watches.saturating_sub(1),
            s.broken,
            s.refused,
            s.events,
            s.bookmarks,
            s.added.len()
        );
    }
    let _ = writeln!(
        f,
        "VM linear memory: {vm_start} bytes at start, {vm_warm} after warm-up, {vm_end} at end; Envoy heap ({ENVOY_MEMORY}): {} -> {} bytes",
        gauge(&stats_before, ENVOY_MEMORY),
        gauge(&stats_after, ENVOY_MEMORY)
    );
    let _ = writeln!(
        f,
        "VMs created: {} -> {}; vm_reload_success {}",
        gauge(&stats_before, VMS_CREATED),
        gauge(&stats_after, VMS_CREATED),
        gauge(&stats_after, "wasm.activity_events.vm_reload_success")
    );
    let _ = writeln!(f, "violations: {}", report.violations.len());
    for v in report.violations.iter().take(30) {
        let _ = writeln!(f, "  {v}");
    }
    report.figures = f;
    drop(ctx);
    if let Ok(s) = Arc::try_unwrap(sandbox) {
        s.shutdown().await;
    }
    Ok(report)
}
