//! One query, end to end. The order of the stages lives here and only here.
//!
//! ```text
//!  packet ─▶ parse (drop responses, NOTIMP, FORMERR, BADVERS)   [crate::dispatch, then]
//!         ─▶ ACL (REFUSED, EDE 18)
//!         ─▶ RD=0: the cache only, never resolved (hit + the zone's NS set, or a
//!            referral; policy only from `recursive-only no` zones)     [async path]
//!         ─▶ policy pre-check (client-IP, QNAME: Skip | Continue | Break)
//!         ─▶ packet cache ──hit, no policy match──▶ answer       [fast path, no await]
//!         ─▶ forward zone ─▶ upstream group (retries within the deadline)
//!         ─▶ normalise (OPT stripped, AA/AD off, TTLs clamped) ─▶ cache
//!         ─▶ policy post-check (CNAME chain, response IPs) ─▶ rewrite ─▶ answer
//! ```
//!
//! Listeners call `Dispatch::handle_fast` (crate::dispatch) inline for
//! every packet: it decodes the packet once, routes NOTIFY and zone transfers
//! to their roles, and gives every query to [`Pipeline::handle_query`]. That
//! answers everything that needs no network I/O (cache hits without a policy
//! match, errors, refusals) without an allocation beyond the caller's
//! reusable buffer, and says [`Step::Resolve`] otherwise; the listener then
//! spawns [`Pipeline::resolve`] for that packet, which also builds every
//! policy rewrite. A rewrite that depends on nothing but the question, the
//! policy set and the real answer is kept ([`crate::prebuilt`]), and the
//! fast path answers the next query with that question from it, as it
//! answers a cache hit.
//!
//! Policy is applied on the way out: the cache keeps the real data (with
//! the CNAME chain and addresses the post-check needs, computed once when
//! stored), and a kept rewrite serves only while the policy set and the
//! real answer it was built from are the live ones, so a policy reload
//! takes effect at once.
//! As in BIND's default `qname-wait-recurse yes`, a QNAME hit is applied
//! after the real answer is known, and a query whose resolution fails gets
//! SERVFAIL as from BIND; with `qname-wait-recurse = false` client-IP and
//! QNAME hits are answered before (and without) resolution.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinEncodable};
use ipnet::IpNet;
use sekisho_recursor::FactsWanted;
use sekisho_rpz::{
    Decision, PolicyQuery, PolicySet, QueryFlow, ResponseFacts, Rewrite, Transport, Verdict,
};

use crate::flight::{Coalescer, Join, Slots};
use crate::hits::{HitReport, Outputs, PolicyNote};
use crate::metrics::{Metrics, Proto, Refusal, Source};
use crate::prebuilt::{Basis, Built, Decided, Outcome, Prebuilt, Shape};
use sekisho_cache::{CacheKind, ClientEcho, Hit, PacketCache, Prepared};
use sekisho_limits::Limit;
use sekisho_upstream::forward::ForwardTable;
use sekisho_wire::{self as wire, rcode, Query, WireError, HEADER_LEN};

/// Settings the pipeline reads on every query; replaced as a whole on SIGHUP
/// ([`Pipeline::reconfigure`]).
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Who may query at all (`allow-query`).
    pub allow_query: Vec<IpNet>,
    /// Who may use recursion and the cache (`allow-recursion`).
    pub allow_recursion: Vec<IpNet>,
    /// Our EDNS UDP payload size.
    pub edns_buffer_size: u16,
    /// Overall deadline for answering a query.
    pub query_timeout: Duration,
    /// Most client queries waiting on the network (`recursive-clients`).
    pub recursive_clients: usize,
    /// Most clients sharing one fetch (`clients-per-query`).
    pub clients_per_query: usize,
    /// TTL of a stale answer served when resolving fails (RFC 8767); `None`:
    /// stale answers are off (`stale-answer-enable`).
    pub stale_answer_ttl: Option<u32>,
    /// Refresh answers hit in the last tenth of their TTL (`prefetch`).
    pub prefetch: bool,
    /// Queries refused by `fetches-per-zone` get no answer, not SERVFAIL
    /// (`fetches-per-zone-response = "drop"`).
    pub zone_quota_drop: bool,
    /// The same for `fetches-per-server` (`fetches-per-server-response`).
    pub server_quota_drop: bool,
}

impl PipelineConfig {
    /// Whether a query refused by the fetch quota `limit` gets no answer.
    fn drops(&self, limit: Option<Limit>) -> bool {
        match limit {
            Some(Limit::FetchesPerZone) => self.zone_quota_drop,
            Some(Limit::FetchesPerServer) => self.server_quota_drop,
            _ => false,
        }
    }
}

/// What the fast path decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `out` holds the answer: send it.
    Reply,
    /// Send nothing (responses, runts).
    Drop,
    /// Needs the network: call [`Pipeline::resolve`] with the packet (through
    /// `Dispatch::resolve`, which also takes a DNS UPDATE for the primary role here).
    Resolve,
    /// Primary role, TCP only: a zone transfer request; call `Dispatch::transfer`,
    /// which may write several messages.
    Transfer,
}

/// Shared state of the query path.
#[derive(Debug)]
pub struct Pipeline {
    /// Settings.
    config: ArcSwap<PipelineConfig>,
    /// The packet cache.
    pub cache: PacketCache,
    /// Forward zones; replaced whole on reconfiguration.
    pub forwarders: ArcSwap<ForwardTable>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The live policy set, swapped whole by the policy store.
    policy: Arc<ArcSwap<PolicySet>>,
    /// Log every query (`querylog on|off`); off by default.
    pub query_log: std::sync::atomic::AtomicBool,
    /// Recursion for names without a forward zone (`None`: SERVFAIL).
    recursor: Option<Arc<sekisho_recursor::Recursor>>,
    /// Names of the root servers (the root hints): the referral of last resort for
    /// an RD=0 query with nothing cached.
    root_ns: Vec<Name>,
    /// Client queries waiting on the network (`recursive-clients`).
    slots: Slots,
    /// Identical questions in flight share one fetch (`clients-per-query`).
    coalescer: Coalescer<Fetched>,
    /// Queries whose cached answer is to be refreshed (prefetch).
    prefetch_tx: tokio::sync::mpsc::Sender<Vec<u8>>,
    /// Its receiving end, until the daemon takes it ([`Pipeline::prefetch_queue`]).
    prefetch_rx: std::sync::Mutex<Option<tokio::sync::mpsc::Receiver<Vec<u8>>>>,
    /// Where policy hits go, and how clients are shown in every log line.
    outputs: Arc<Outputs>,
    /// Policy answers built once, served on the fast path.
    prebuilt: Arc<Prebuilt>,
}

/// Prefetches waiting to start; more are dropped (the answers are still cached).
const PREFETCH_QUEUE: usize = 1024;

/// A real answer, ready for the client except OPT and truncation.
#[derive(Debug, Clone)]
struct Fetched {
    /// Client-ready bytes (ID, RD and question case patched).
    wire: Vec<u8>,
    /// Policy facts of the answer.
    facts: Option<Arc<ResponseFacts>>,
    /// Where it came from.
    source: Source,
    /// Extended DNS Error for the client's OPT (recursion failures, bogus answers).
    ede: Option<sekisho_recursor::Ede>,
    /// The fetch quota that refused the resolution, if one did.
    refused: Option<Limit>,
}

impl Fetched {
    /// A SERVFAIL that is not a DNSSEC verdict (those are never replaced by
    /// stale data): resolving failed.
    fn failed(&self) -> bool {
        self.wire
            .get(3)
            .is_some_and(|b| b & 0x0f == rcode::SERVFAIL)
            && !self
                .ede
                .as_ref()
                .is_some_and(sekisho_recursor::Ede::is_bogus)
    }
}

impl Pipeline {
    /// A pipeline over these parts.
    pub fn new(
        config: PipelineConfig,
        cache: PacketCache,
        forwarders: ForwardTable,
        metrics: Arc<Metrics>,
        policy: Arc<ArcSwap<PolicySet>>,
        recursor: Option<Arc<sekisho_recursor::Recursor>>,
    ) -> Pipeline {
        set_maxima(&metrics.limits, &config);
        let (prefetch_tx, prefetch_rx) = tokio::sync::mpsc::channel(PREFETCH_QUEUE);
        Pipeline {
            prefetch_tx,
            prefetch_rx: std::sync::Mutex::new(Some(prefetch_rx)),
            slots: Slots::new(metrics.limits.clone()),
            coalescer: Coalescer::new(metrics.limits.clone()),
            query_log: std::sync::atomic::AtomicBool::new(false),
            outputs: Arc::new(Outputs::main_log_only()),
            prebuilt: Arc::new(Prebuilt::default()),
            config: ArcSwap::from_pointee(config),
            cache,
            forwarders: ArcSwap::from_pointee(forwarders),
            metrics,
            policy,
            // RD=0 misses are referred to the root servers recursion starts from.
            root_ns: recursor.as_ref().map_or_else(
                || {
                    sekisho_recursor::anchors::builtin_hints()
                        .into_iter()
                        .map(|(name, _)| name)
                        .collect()
                },
                |r| r.root_server_names(),
            ),
            recursor,
        }
    }

    /// The pipeline with these hit outputs instead of the main log's line
    /// alone.
    pub fn with_outputs(mut self, outputs: Arc<Outputs>) -> Pipeline {
        self.outputs = outputs;
        self
    }

    /// The hit outputs (top-clients, reopen-logs, reload of the client policies).
    pub fn outputs(&self) -> &Arc<Outputs> {
        &self.outputs
    }

    /// Replace the per-query settings (access lists, EDNS size, deadline):
    /// queries that start afterwards see the new ones.
    pub fn reconfigure(&self, config: PipelineConfig) {
        set_maxima(&self.metrics.limits, &config);
        self.config.store(Arc::new(config));
    }

    /// Writes the answer cache's fresh entries to `path` (written beside it
    /// and renamed into place, so a crash never leaves half a dump).
    /// Returns how many. Blocking file I/O: call it off the runtime's threads.
    pub fn dump_cache(&self, path: &std::path::Path) -> std::io::Result<usize> {
        let entries = self.cache.fresh_entries(Instant::now());
        let bytes = sekisho_cache::saved::encode(&entries, env!("CARGO_PKG_VERSION"), unix_now());
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)?;
        Ok(entries.len())
    }

    /// Reads a dump from `path` into the answer cache: every TTL loses the
    /// time since the dump, what has expired is dropped, each answer is
    /// normalised and given its policy facts as a fresh one would be.
    /// Returns how many were stored; a dump that cannot be used (see
    /// `sekisho_cache::saved`) is refused whole. Blocking file I/O.
    pub fn load_cache(&self, path: &std::path::Path, max_age: Duration) -> Result<usize, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let dump = sekisho_cache::saved::decode(&bytes, unix_now(), max_age)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if dump.writer != env!("CARGO_PKG_VERSION") {
            tracing::info!(
                file = %path.display(),
                written_by = %dump.writer,
                "saved cache of another sekisho build read (an upgrade)"
            );
        }
        let age = u32::try_from(dump.age).unwrap_or(u32::MAX);
        let with_facts = !self.policy.load().zones().is_empty();
        let limits = self.cache.limits();
        let now = Instant::now();
        let mut stored = 0;
        let mut aged = Vec::new();
        for e in &dump.entries {
            let Some(saved) = Prepared::new(&e.wire, limits) else {
                continue;
            };
            if saved.ttl <= age {
                continue;
            }
            saved.write_to(&mut aged, age);
            let Some(mut prepared) = Prepared::new(&aged, limits) else {
                continue;
            };
            // Normalising clears AD; it was set when the answer was stored
            // validated (the dump is ours, from the state directory).
            if e.wire.get(3).is_some_and(|b| b & 0x20 != 0) {
                prepared.set_authentic_data();
            }
            if with_facts {
                let qname_len = sekisho_wire::skip_name(&e.key, 0).unwrap_or(0);
                prepared.facts = facts_of(&aged, &e.key[..qname_len]);
            }
            if self.cache.insert(&e.key, prepared, now) {
                stored += 1;
            }
        }
        Ok(stored)
    }

    /// The recursor, if recursion is on.
    pub fn recursor(&self) -> Option<&Arc<sekisho_recursor::Recursor>> {
        self.recursor.as_ref()
    }

    /// Keeps the table of prebuilt policy answers following the live
    /// policy set until `stop` turns true (the daemon spawns it).
    pub fn follow_policy(
        &self,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.prebuilt.clone().run(self.policy.clone(), stop)
    }

    /// Policy answers kept for the fast path.
    pub fn prebuilt(&self) -> &Prebuilt {
        &self.prebuilt
    }

    /// The live policy set.
    pub fn policy(&self) -> Arc<PolicySet> {
        self.policy.load_full()
    }

    /// Our EDNS buffer size.
    pub fn edns_buffer_size(&self) -> u16 {
        self.config.load().edns_buffer_size
    }

    /// Whether `client` may query at all (`allow-query`).
    pub fn allows_query(&self, client: IpAddr) -> bool {
        sekisho_conf::allows(&self.config.load().allow_query, client)
    }

    /// The query-log line for `query`, when the query log is on.
    pub fn log_query(&self, query: &Query<'_>, client: IpAddr, proto: Proto) {
        if self.query_log.load(std::sync::atomic::Ordering::Relaxed) {
            tracing::info!(
                target: "query",
                "client {} query: {} {} {} {}{}",
                self.client_label(client),
                wire_name_text(query.qname_wire()),
                class_text(query.qclass),
                RecordType::from(query.qtype),
                proto.as_label(),
                if query.rd { " +RD" } else { "" }
            );
        }
    }

    /// Count a decoded query (before any routing, so every packet the
    /// listeners decode is counted once).
    pub fn count_query(&self, query: &Query<'_>, client: SocketAddr, proto: Proto) {
        self.metrics.query(
            proto,
            client.is_ipv6() && !is_v4_mapped(client.ip()),
            query.qtype,
        );
    }

    /// Handle the decoded query `query` (its bytes: `packet`) from `client`
    /// without waiting on anything. On [`Step::Reply`], `out` holds the answer,
    /// sized for `proto`. NOTIFY and zone transfers never get here (see
    /// `crate::dispatch`).
    pub fn handle_query(
        &self,
        packet: &[u8],
        query: &Query<'_>,
        client: SocketAddr,
        proto: Proto,
        out: &mut Vec<u8>,
        key: &mut Vec<u8>,
    ) -> Step {
        let started = Instant::now();
        // One snapshot of the settings for the whole query.
        let config = self.config.load();
        let buf = config.edns_buffer_size;
        let ip = client.ip();
        self.log_query(query, ip, proto);
        if !sekisho_conf::allows(&config.allow_query, ip)
            || !sekisho_conf::allows(&config.allow_recursion, ip)
        {
            // As BIND 9.18: RA clear (nothing is available to this client) and
            // EDE 18 (Prohibited).
            self.metrics.refused(Refusal::Acl);
            *out = crate::chaos::no_recursion_error(query, rcode::REFUSED, true, buf);
            self.metrics.response(rcode::REFUSED, Source::Local);
            return Step::Reply;
        }
        if query.opcode != wire::OPCODE_QUERY {
            // NOTIFY never gets here (routed in front); other opcodes are refused by parse_query.
            self.metrics.refused(Refusal::NotImp);
            *out = wire::error_response(packet, Some(query), rcode::NOTIMP, buf);
            self.metrics.response(rcode::NOTIMP, Source::Local);
            return Step::Reply;
        }
        if !query.rd {
            // RD=0 is answered from the cache only, never resolved, and BIND adds
            // the zone's NS set to such answers: that is built on the async path
            // (RD=0 queries are rare: monitoring, cache snooping).
            return Step::Resolve;
        }
        PacketCache::key_into(
            query.qname_wire(),
            query.qtype,
            query.qclass,
            query.dnssec_ok(),
            query.cd,
            key,
        );
        let echo = ClientEcho::of(query);
        let hit = if config.prefetch {
            self.cache.lookup_hit(key, &echo, started, out)
        } else {
            self.cache.lookup_full(key, &echo, started, out)
        };
        let Some(Hit {
            kind,
            facts,
            prefetch,
            ..
        }) = hit
        else {
            self.metrics.cache_misses.inc();
            return self.refuse_at_fetch_quota(packet, query, ip, &config, key, out, started);
        };
        if kind == CacheKind::Failure {
            // A stored failure carries its EDE, which the async path adds.
            return Step::Resolve;
        }
        if prefetch {
            // In the last tenth of its TTL: refreshed in the background (at most
            // once per stored answer; dropped when the queue is full).
            let _ = self.prefetch_tx.try_send(packet.to_vec());
        }
        let policy = self.policy.load();
        if !policy.zones().is_empty() {
            let wire = &key[..query.qname_wire().len()];
            // Usually answered from the name's bytes alone; a hickory name is built only
            // when that cannot be (see `PolicySet::no_match_by_wire`).
            let by_wire = facts.as_deref().and_then(|f| {
                policy.no_match_by_wire(
                    policy_client(ip),
                    RecordType::from(query.qtype),
                    query.rd,
                    query.dnssec_ok(),
                    wire,
                    f,
                )
            });
            let matched = match by_wire {
                Some(no_match) => !no_match,
                None => match name_from_wire(wire) {
                    None => true,
                    Some(qname) => {
                        let pq = policy_query(query, ip, &qname, wire);
                        match policy.check_query(&pq) {
                            QueryFlow::Skip => false,
                            QueryFlow::Break(_) => true,
                            QueryFlow::Continue => facts
                                .as_ref()
                                .is_none_or(|f| !policy.check_response_quick(&pq, f).is_no_match()),
                        }
                    }
                },
            };
            if matched {
                // A decision, a hit to log or a rewrite: kept from an earlier
                // query with this question, or built by the async path.
                let kept = self.serve_kept(
                    &policy,
                    query,
                    ip,
                    proto,
                    facts.as_ref(),
                    key,
                    out,
                    (buf, started),
                );
                if let Some(step) = kept {
                    return step;
                }
                // PASSTHRU: the real answer, served below.
            }
        }
        match kind {
            CacheKind::Denial => self.metrics.cache_hits_denial.inc(),
            _ => self.metrics.cache_hits_success.inc(),
        }
        self.finish(out, query, proto, Source::Cache, started);
        Step::Reply
    }

    /// The policy decision kept for this question (see [`crate::prebuilt`]),
    /// if it was taken from the live policy set and the cached real answer
    /// with `facts`: its answer patched for this client, or nothing sent
    /// (DROP), logged as the async path would; `None` for PASSTHRU (the
    /// caller serves the real answer, in `out`, as a cache hit). Otherwise the
    /// async path takes it ([`Step::Resolve`]).
    /// `(buf, started)`: the query's EDNS buffer size setting and its start.
    #[allow(clippy::too_many_arguments)]
    fn serve_kept(
        &self,
        policy: &Arc<PolicySet>,
        query: &Query<'_>,
        client: IpAddr,
        proto: Proto,
        facts: Option<&Arc<ResponseFacts>>,
        key: &mut Vec<u8>,
        out: &mut Vec<u8>,
        (buf, started): (u16, Instant),
    ) -> Option<Step> {
        // dnstap wants the hit's note with the answer: the async path writes both.
        if self.outputs.tap().is_some() {
            return Some(Step::Resolve);
        }
        let Some(kept) = self
            .prebuilt
            .get(key, Shape::of(query, proto), policy, facts)
        else {
            return Some(Step::Resolve);
        };
        let step = match &kept.outcome {
            Outcome::Unchanged => {
                self.report_hit(&kept.hit, &kept.qname, kept.qtype, client, proto, None);
                return None;
            }
            Outcome::Drop => {
                self.metrics.refused(Refusal::PolicyDrop);
                Step::Drop
            }
            Outcome::Answer(wire) => {
                out.clear();
                out.extend_from_slice(wire);
                ClientEcho::of(query).apply(out);
                fit_udp(out, query, proto, buf);
                self.metrics.response(out[3] & 0x0f, Source::Policy);
                Step::Reply
            }
        };
        let answer = (step == Step::Reply).then_some(&out[..]);
        self.report_hit(&kept.hit, &kept.qname, kept.qtype, client, proto, answer);
        self.metrics
            .request_duration
            .observe(started.elapsed().as_secs_f64());
        Some(step)
    }

    /// Count a policy hit and write it to the hit outputs; what dnstap needs
    /// of it comes back.
    fn report_hit(
        &self,
        hit: &sekisho_rpz::Hit,
        qname: &Name,
        qtype: RecordType,
        client: IpAddr,
        proto: Proto,
        answer: Option<&[u8]>,
    ) -> Option<PolicyNote> {
        self.metrics.rpz_hit(
            &hit.zone.name().to_ascii(),
            hit.kind().as_str(),
            hit.action.as_str(),
        );
        self.outputs.hit(&HitReport {
            hit,
            qname,
            qtype,
            client,
            proto,
            answer,
        })
    }

    /// A cache miss for a name whose zone is at its `fetches-per-zone` quota,
    /// or whose zone's servers are all at their `fetches-per-server` quota,
    /// is refused here, on the listener's thread, as the resolution would
    /// refuse it after the hand-over to the runtime: dropped, or SERVFAIL
    /// with EDE 0 (`fetches-per-zone-response`, `fetches-per-server-response`),
    /// counted once by the recursor. Under a random-subdomain flood that is most queries, and
    /// answering them here spares each a task, a wake-up of the runtime and
    /// a resolution that would only be refused. Anything else that could
    /// change the outcome sends the query on ([`Step::Resolve`]): a forward
    /// zone, a policy rule that decides before resolution, a stale answer to
    /// serve instead.
    #[allow(clippy::too_many_arguments)]
    fn refuse_at_fetch_quota(
        &self,
        packet: &[u8],
        query: &Query<'_>,
        ip: IpAddr,
        config: &PipelineConfig,
        key: &[u8],
        out: &mut Vec<u8>,
        started: Instant,
    ) -> Step {
        // Two atomic loads while no zone or server is at its quota: every
        // miss passes here.
        let Some(recursor) = self.recursor.as_ref().filter(|r| r.any_fetch_quota_full()) else {
            return Step::Resolve;
        };
        let lower_qname = &key[..query.qname_wire().len()];
        if self.forwarders.load().lookup(lower_qname).is_some() {
            return Step::Resolve;
        }
        let Some(qname) = name_from_wire(lower_qname) else {
            return Step::Resolve;
        };
        // The quota before the policy and stale checks: they run only for a
        // query it would refuse.
        let Some(full) = recursor.fetch_quota_full(&qname, RecordType::from(query.qtype)) else {
            return Step::Resolve;
        };
        let policy = self.policy.load();
        if !policy.zones().is_empty()
            && matches!(
                policy.check_query(&policy_query(query, ip, &qname, lower_qname)),
                QueryFlow::Break(_)
            )
        {
            return Step::Resolve;
        }
        if let Some(ttl) = config.stale_answer_ttl {
            let echo = ClientEcho::of(query);
            if self
                .cache
                .lookup_stale(key, &echo, started, ttl, out)
                .is_some()
            {
                return Step::Resolve;
            }
        }
        let failure = recursor.refuse(&full);
        if config.drops(failure.refused) {
            return Step::Drop;
        }
        *out = self.servfail(packet, query, started);
        if let Some(ede) = &failure.ede {
            sekisho_recursor::append_ede(out, ede);
        }
        Step::Reply
    }

    /// Resolve a packet the fast path could not answer, applying policy.
    /// `None` = send nothing.
    pub async fn resolve(&self, packet: &[u8], client: IpAddr, proto: Proto) -> Option<Vec<u8>> {
        self.resolve_noted(packet, client, proto, &mut None).await
    }

    /// [`Pipeline::resolve`], leaving in `note` what dnstap needs of the
    /// policy hit that decided the answer, if one did.
    pub async fn resolve_noted(
        &self,
        packet: &[u8],
        client: IpAddr,
        proto: Proto,
        note: &mut Option<PolicyNote>,
    ) -> Option<Vec<u8>> {
        let started = Instant::now();
        let query = wire::parse_query(packet).ok()?;
        let deadline = started + self.config.load().query_timeout;
        let (key, lower_qname) = question_key(&query);
        let policy = self.policy.load_full();
        let qname = if policy.zones().is_empty() {
            None
        } else {
            name_from_wire(&lower_qname)
        };
        let flow = match &qname {
            Some(n) => policy.check_query(&policy_query(&query, client, n, &lower_qname)),
            None => QueryFlow::Skip,
        };
        if let (QueryFlow::Break(decision), Some(n)) = (&flow, &qname) {
            if let Some(answer) = self
                .rewrite(
                    decision,
                    packet,
                    &query,
                    client,
                    n,
                    None,
                    proto,
                    deadline,
                    note,
                    Some((
                        &key,
                        Basis {
                            policy: &policy,
                            facts: None,
                        },
                    )),
                )
                .await
            {
                self.metrics
                    .request_duration
                    .observe(started.elapsed().as_secs_f64());
                return answer;
            }
            // PASSTHRU (or TCP-only over TCP): the real answer, policy done.
        }
        // RD=0: the cache only (BIND 9.18 never starts a resolution for it).
        let fetched = self
            .fetch(&key, &lower_qname, &query, deadline, query.rd)
            .await;
        if !query.rd {
            if fetched.is_some() {
                self.metrics.cache_hits_success.inc();
            } else {
                self.metrics.cache_misses.inc();
            }
        }
        if fetched
            .as_ref()
            .is_some_and(|f| self.config.load().drops(f.refused))
        {
            // `fetches-per-zone-response` / `fetches-per-server-response` =
            // "drop": no answer (counted as the limit's drop where it refused).
            return None;
        }
        // qname-wait-recurse: rules that wait for the response are applied to
        // a real answer only; when resolution fails the client gets the
        // failure, as from BIND 9.18.
        // A DNSSEC-bogus answer (SERVFAIL with EDE 6-12) is a failure
        // too, not a real answer: BIND 9.18 answers SERVFAIL, no rewrite.
        let real_answer = fetched
            .as_ref()
            .is_some_and(|f| !f.ede.as_ref().is_some_and(sekisho_recursor::Ede::is_bogus));
        if let (QueryFlow::Continue, Some(n), true) = (&flow, &qname, real_answer) {
            let empty = ResponseFacts::default();
            let facts = match &fetched {
                Some(f) => f.facts.clone(),
                None => None,
            };
            let decision = policy.check_response(
                &policy_query(&query, client, n, &lower_qname),
                facts.as_deref().unwrap_or(&empty),
            );
            // Read back (a whole hickory parse) only for a rule that rewrites
            // it: most answers match nothing.
            let real = match decision.verdict {
                Verdict::Match(_) => fetched
                    .as_ref()
                    .and_then(|f| Message::from_vec(&f.wire).ok()),
                Verdict::NoMatch | Verdict::DnssecExempt(_) => None,
            };
            if let Some(answer) = self
                .rewrite(
                    &decision,
                    packet,
                    &query,
                    client,
                    n,
                    real.as_ref(),
                    proto,
                    deadline,
                    note,
                    facts.as_ref().map(|f| {
                        (
                            &key[..],
                            Basis {
                                policy: &policy,
                                facts: Some(f),
                            },
                        )
                    }),
                )
                .await
            {
                self.metrics
                    .request_duration
                    .observe(started.elapsed().as_secs_f64());
                return answer;
            }
        }
        if fetched.is_none() && !query.rd {
            // RD=0 and nothing cached. BIND applies the rules of zones with
            // `recursive-only no` that need no answer (client IP, QNAME) to what
            // it has, then answers with a referral.
            if let (QueryFlow::Continue, Some(n)) = (&flow, &qname) {
                let decision = policy.check_response(
                    &policy_query(&query, client, n, &lower_qname),
                    &ResponseFacts::default(),
                );
                if let Some(answer) = self
                    .rewrite(
                        &decision, packet, &query, client, n, None, proto, deadline, note, None,
                    )
                    .await
                {
                    self.metrics
                        .request_duration
                        .observe(started.elapsed().as_secs_f64());
                    return answer;
                }
            }
            let Some(mut out) = self.referral(&query, &lower_qname) else {
                return Some(self.servfail(packet, &query, started));
            };
            self.finish(&mut out, &query, proto, Source::Local, started);
            return Some(out);
        }
        match fetched {
            Some(mut f) => {
                if f.source == Source::Cache && query.rd {
                    self.metrics.cache_hits_success.inc();
                }
                if !query.rd {
                    self.add_zone_ns(&mut f.wire, &query, &lower_qname);
                }
                self.finish(&mut f.wire, &query, proto, f.source, started);
                if let Some(ede) = &f.ede {
                    sekisho_recursor::append_ede(&mut f.wire, ede);
                }
                Some(f.wire)
            }
            None => Some(self.servfail(packet, &query, started)),
        }
    }

    /// The real answer for `query`: from the cache, else (when `resolve`) from the
    /// forward zone's upstreams or by recursion (then cached). `None` when nothing
    /// answered in time, or on a cache miss without `resolve`.
    async fn fetch(
        &self,
        key: &[u8],
        lower_qname: &[u8],
        query: &Query<'_>,
        deadline: Instant,
        resolve: bool,
    ) -> Option<Fetched> {
        let mut wire = Vec::new();
        if let Some(hit) =
            self.cache
                .lookup_full(key, &ClientEcho::of(query), Instant::now(), &mut wire)
        {
            let facts = match hit.facts {
                Some(f) => Some(f),
                None => facts_of(&wire, lower_qname),
            };
            return Some(Fetched {
                wire,
                facts,
                source: Source::Cache,
                ede: hit
                    .ede
                    .map(|(code, text)| sekisho_recursor::Ede::new(code, text.as_ref())),
                refused: None,
            });
        }
        if !resolve {
            return None;
        }
        // A miss that needs the network: it takes a recursive-clients slot for
        // as long as it waits, and shares the fetch with identical questions.
        let config = self.config.load_full();
        let fetched = match self.slots.admit(config.recursive_clients, Instant::now()) {
            None => None,
            Some(slot) => tokio::select! {
                biased;
                () = slot.evicted() => {
                    tracing::debug!("recursion slot taken by a newer query");
                    None
                }
                f = self.fetch_shared(key, lower_qname, query, deadline, config.clients_per_query) => f,
            },
        };
        match (config.stale_answer_ttl, &fetched) {
            (Some(ttl), f) if f.as_ref().is_none_or(Fetched::failed) => {
                self.stale(key, lower_qname, query, ttl).or(fetched)
            }
            _ => fetched,
        }
    }

    /// RFC 8767: resolving failed (no authority or upstream answered, a
    /// limit refused it), so an answer that expired less than a day ago is
    /// served with TTL `ttl` and EDE 3 (Stale Answer).
    fn stale(
        &self,
        key: &[u8],
        lower_qname: &[u8],
        query: &Query<'_>,
        ttl: u32,
    ) -> Option<Fetched> {
        let mut wire = Vec::new();
        let hit =
            self.cache
                .lookup_stale(key, &ClientEcho::of(query), Instant::now(), ttl, &mut wire)?;
        if !hit.stale {
            // Fresh: the failure just stored, or an answer another client's
            // fetch stored meanwhile; the caller keeps its own outcome.
            return None;
        }
        tracing::debug!("resolving failed; a stale answer from the cache");
        Some(Fetched {
            facts: hit.facts.or_else(|| facts_of(&wire, lower_qname)),
            wire,
            source: Source::Cache,
            ede: Some(sekisho_recursor::Ede::new(
                3,
                "stale answer: resolving failed",
            )),
            refused: None,
        })
    }

    /// Refresh the cached answer to `packet`'s question before it expires
    /// (prefetch): the network is asked again and the cache updated, with
    /// nobody waiting for the answer. Skipped when half the recursion slots
    /// are taken or the question is already being fetched.
    pub async fn prefetch(&self, packet: &[u8]) {
        let Ok(query) = wire::parse_query(packet) else {
            return;
        };
        let config = self.config.load_full();
        if self.slots.len() >= config.recursive_clients / 2 {
            return;
        }
        let (key, lower_qname) = question_key(&query);
        let Some(slot) = self.slots.admit(config.recursive_clients, Instant::now()) else {
            return;
        };
        let Join::Lead(lead) = self
            .coalescer
            .join(&key, config.clients_per_query, String::new)
        else {
            return;
        };
        if self.forwarders.load().lookup(&lower_qname).is_none() {
            // The recursor would answer from its own cache, as old as ours.
            if let (Some(r), Some(name)) = (&self.recursor, name_from_wire(&lower_qname)) {
                r.forget_answer(&name, RecordType::from(query.qtype));
            }
        }
        let deadline = Instant::now() + config.query_timeout;
        let fetched = tokio::select! {
            biased;
            () = slot.evicted() => None,
            f = self.fetch_network(&key, &lower_qname, &query, deadline) => f,
        };
        lead.publish(fetched);
    }

    /// The receiving end of the prefetch queue, for the task that runs
    /// [`Pipeline::prefetch`] (the daemon takes it once).
    pub fn prefetch_queue(&self) -> Option<tokio::sync::mpsc::Receiver<Vec<u8>>> {
        self.prefetch_rx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// One fetch per question in flight: the first client runs it, the
    /// others (up to `clients_per_query`) wait for its outcome. A waiter whose
    /// leader was cancelled takes over.
    async fn fetch_shared(
        &self,
        key: &[u8],
        lower_qname: &[u8],
        query: &Query<'_>,
        deadline: Instant,
        clients_per_query: usize,
    ) -> Option<Fetched> {
        // Bounded: a leader is only replaced when its client is cancelled.
        for _ in 0..4 {
            let label = || {
                format!(
                    "{} {}",
                    wire_name_text(lower_qname),
                    RecordType::from(query.qtype)
                )
            };
            match self.coalescer.join(key, clients_per_query, label) {
                Join::Lead(lead) => {
                    let fetched = self.fetch_network(key, lower_qname, query, deadline).await;
                    let shared = lead.publish(fetched);
                    // Shared only when a client waited for it: else no copy.
                    return Arc::try_unwrap(shared).unwrap_or_else(|s| (*s).clone());
                }
                Join::Wait(wait) => {
                    let Some(shared) = wait.outcome().await else {
                        continue;
                    };
                    let f = (*shared).as_ref()?;
                    // The leader's answer went to the cache when it could:
                    // served from there it is patched for this client exactly
                    // (ID, RD, CD, AD, name case).
                    let mut wire = Vec::new();
                    if let Some((_, facts)) =
                        self.cache
                            .lookup(key, &ClientEcho::of(query), Instant::now(), &mut wire)
                    {
                        return Some(Fetched {
                            wire,
                            facts: facts.or_else(|| f.facts.clone()),
                            source: f.source,
                            ede: f.ede.clone(),
                            refused: None,
                        });
                    }
                    let mut f = f.clone();
                    ClientEcho::of(query).apply(&mut f.wire);
                    return Some(f);
                }
                Join::Full => return None,
            }
        }
        None
    }

    /// The network part of [`Pipeline::fetch`]: the forward zone's upstreams,
    /// or recursion.
    async fn fetch_network(
        &self,
        key: &[u8],
        lower_qname: &[u8],
        query: &Query<'_>,
        deadline: Instant,
    ) -> Option<Fetched> {
        let forwarders = self.forwarders.load();
        let Some(group) = forwarders.lookup(lower_qname) else {
            // --- recursion: no forward zone, so resolve from the root. ---
            let Some(recursor) = self.recursor.as_ref() else {
                tracing::debug!("no forward zone for query and recursion is not available");
                return None;
            };
            let facts = {
                let set = self.policy.load();
                match (set.zones().is_empty(), set.reads_delegations()) {
                    (true, _) => FactsWanted::No,
                    (false, false) => FactsWanted::Answer,
                    (false, true) => FactsWanted::WithDelegations,
                }
            };
            let f = sekisho_recursor::fetch(
                recursor,
                &self.cache,
                facts,
                key,
                lower_qname,
                query,
                deadline,
            )
            .await?;
            if let Some(d) = f.dnssec {
                self.metrics.dnssec_validation(d.as_label());
            }
            return Some(Fetched {
                wire: f.wire,
                facts: f.facts,
                source: Source::Recursion,
                ede: f.ede,
                refused: f.refused,
            });
        };
        // Asked with DO=1 when the answer is to be validated, even for a DO=0
        // client: one upstream query, stripped below for that client.
        let asked_do = sekisho_recursor::forwarded::wants_dnssec(self.recursor.as_deref(), query);
        let upstream_query = upstream_query(
            query,
            lower_qname,
            self.config.load().edns_buffer_size,
            asked_do,
        );
        let mut answer = match group.exchange(&upstream_query, deadline).await {
            Ok((answer, _)) => answer,
            Err(e) => {
                tracing::debug!(error = %e, "no upstream answered");
                return None;
            }
        };
        // The answer is read once, for what needs it: validation, a DO=0
        // client's copy without DNSSEC records, the policy facts.
        let strip = asked_do && !query.dnssec_ok();
        let policy = !self.policy.load().zones().is_empty();
        let validates = self
            .recursor
            .as_ref()
            .is_some_and(|r| sekisho_recursor::forwarded::judges(r, query));
        let mut message = (validates || strip || policy)
            .then(|| Message::from_vec(&answer).ok())
            .flatten();
        // --- DNSSEC validation of forwarded answers ---
        let mut secure = false;
        if let Some(r) = self.recursor.as_ref() {
            use sekisho_recursor::forwarded::{check_forwarded, Checked};
            let checked =
                check_forwarded(r, group, message.as_ref(), query, lower_qname, deadline).await;
            if let Some(d) = checked.verdict() {
                self.metrics.dnssec_validation(d.as_label());
            }
            match checked {
                Checked::Secure => secure = true,
                Checked::Insecure | Checked::Exempt | Checked::NotJudged => {}
                Checked::Bogus(ede) => {
                    let f = sekisho_recursor::bogus(&self.cache, lower_qname, query, ede)?;
                    return Some(Fetched {
                        wire: f.wire,
                        facts: None,
                        source: Source::Upstream,
                        ede: f.ede,
                        refused: None,
                    });
                }
            }
        }
        if strip {
            let Some(stripped) = message
                .as_mut()
                .and_then(sekisho_recursor::forwarded::strip_dnssec)
            else {
                tracing::debug!("upstream answer could not be read");
                return None;
            };
            answer = stripped;
        }
        let Some(mut prepared) = Prepared::new(&answer, self.cache.limits()) else {
            tracing::debug!("upstream answer could not be read");
            return None;
        };
        if matches!(
            prepared.rcode(),
            rcode::REFUSED | rcode::NOTIMP | rcode::FORMERR
        ) {
            // The upstream would not answer: to our client that is a server
            // failure, not a refusal by us (as BIND and Unbound answer).
            tracing::debug!(rcode = prepared.rcode(), "upstream refused the query");
            return None;
        }
        if secure {
            prepared.set_authentic_data();
        }
        if policy {
            // From the message the client's copy was encoded from.
            prepared.facts = message.as_ref().and_then(|m| facts_from(m, lower_qname));
        }
        let mut out = Vec::with_capacity(answer.len() + 11);
        prepared.serve(&ClientEcho::of(query), &mut out);
        let facts = prepared.facts.clone();
        self.cache.insert(key, prepared, Instant::now());
        Some(Fetched {
            wire: out,
            facts,
            source: Source::Upstream,
            ede: None,
            refused: None,
        })
    }

    /// Apply a policy decision. `None` = no rewrite: serve the real answer.
    /// `Some(None)` = send nothing (DROP). With `keep` (the question's cache
    /// key and what the decision was taken from), an answer that needed no
    /// chase is kept for the fast path (see [`crate::prebuilt`]).
    #[allow(clippy::too_many_arguments)]
    async fn rewrite(
        &self,
        decision: &Decision,
        packet: &[u8],
        query: &Query<'_>,
        client: IpAddr,
        qname: &Name,
        real: Option<&Message>,
        proto: Proto,
        deadline: Instant,
        note: &mut Option<PolicyNote>,
        keep: Option<(&[u8], Basis<'_>)>,
    ) -> Option<Option<Vec<u8>>> {
        let qtype = RecordType::from(query.qtype);
        if !decision.disabled.is_empty() {
            let seen = self
                .outputs
                .disabled_hits(&decision.disabled, qname, qtype, client);
            if note.is_none() {
                *note = seen;
            }
        }
        let hit = match &decision.verdict {
            Verdict::Match(h) => h,
            Verdict::NoMatch | Verdict::DnssecExempt(_) => return None,
        };
        let mut report = |answer: Option<&[u8]>| {
            *note = self.report_hit(hit, qname, qtype, client, proto, answer);
        };
        // A query the staged decoder took but hickory cannot: SERVFAIL, never
        // the unfiltered answer.
        let Ok(request) = Message::from_vec(packet) else {
            let out = self.servfail(packet, query, Instant::now());
            report(Some(&out));
            return Some(Some(out));
        };
        // RPZ's TCP-only action and friends: DoT and DoH are not UDP.
        let transport = if proto == Proto::Udp {
            Transport::Udp
        } else {
            Transport::Tcp
        };
        // Kept only when nothing but the decision and the question made
        // it: no disabled zone's hit to log, and RD=1 (the fast path answers
        // nothing else).
        let keep = keep.filter(|_| decision.disabled.is_empty() && query.rd);
        let shape = Shape::of(query, proto);
        let kept = |decided: Decided<'_>| {
            if let Some((key, basis)) = keep {
                let built = Built {
                    decided,
                    hit,
                    qname,
                    qtype,
                };
                self.prebuilt.keep(key, shape, basis, built);
            }
        };
        match decision.rewrite(&request, real, transport) {
            Rewrite::Unchanged => {
                kept(Decided::Unchanged);
                report(None);
                None
            }
            Rewrite::Drop => {
                kept(Decided::Drop);
                report(None);
                self.metrics.refused(Refusal::PolicyDrop);
                Some(None)
            }
            Rewrite::Answer { mut message, chase } => {
                // An answer is kept only with no chased target and no real
                // CNAMEs in front (their TTLs age).
                let simple = chase.is_none() && hit.position == 0;
                if let Some(target) = chase {
                    // RPZ is not applied again to what it synthesised: fetch the
                    // CNAME target's real data without policy. Boxed: held inline,
                    // the fetch's future made every query's future larger (see
                    // `Dispatch::resolve`), for a path few rewrites take.
                    let extra = Box::pin(self.fetch_name(&target, query, deadline)).await;
                    if extra.is_none() && !query.rd {
                        // RD=0 and the target is not cached: BIND adds the referral
                        // for the target, as for any RD=0 miss.
                        if let Ok(lower) = target.to_lowercase().to_bytes() {
                            if let Some((ns, glue)) = self.closest_ns(&lower, false, true) {
                                message.add_authorities(ns);
                                message.add_additionals(glue);
                            }
                        }
                    }
                    if let Some(extra) = extra {
                        // The target's outcome is the answer's: NXDOMAIN stays
                        // NXDOMAIN, and a negative answer keeps the target
                        // zone's SOA in AUTHORITY (RFC 2308), as BIND does.
                        let negative = extra
                            .answers
                            .iter()
                            .all(|r| r.name != target || r.record_type() == RecordType::CNAME)
                            || extra.metadata.response_code
                                == hickory_proto::op::ResponseCode::NXDomain;
                        if extra.metadata.response_code == hickory_proto::op::ResponseCode::NXDomain
                        {
                            message.metadata.response_code = extra.metadata.response_code;
                        }
                        if negative {
                            message.add_authorities(
                                extra
                                    .authorities
                                    .iter()
                                    .filter(|r| r.record_type() == RecordType::SOA)
                                    .cloned(),
                            );
                        }
                        message.add_answers(extra.answers);
                    }
                }
                let Ok(mut out) = message.to_vec() else {
                    let out = self.servfail(packet, query, Instant::now());
                    report(Some(&out));
                    return Some(Some(out));
                };
                if simple {
                    kept(Decided::Answer(&out));
                }
                fit_udp(&mut out, query, proto, self.edns_buffer_size());
                report(Some(&out));
                self.metrics.response(out[3] & 0x0f, Source::Policy);
                Some(Some(out))
            }
        }
    }

    /// The real answer for `name` with the query's type, class, DO and CD.
    async fn fetch_name(
        &self,
        name: &Name,
        query: &Query<'_>,
        deadline: Instant,
    ) -> Option<Message> {
        let lower = name.to_lowercase().to_bytes().ok()?;
        let mut packet = Vec::with_capacity(HEADER_LEN + lower.len() + 4);
        packet.extend_from_slice(&[
            0,
            0,
            0x01,
            if query.cd { 0x10 } else { 0 },
            0,
            1,
            0,
            0,
            0,
            0,
            0,
            0,
        ]);
        packet.extend_from_slice(&lower);
        packet.extend_from_slice(&query.qtype.to_be_bytes());
        packet.extend_from_slice(&query.qclass.to_be_bytes());
        let sub = wire::parse_query(&packet).ok()?;
        let sub = Query {
            edns: query.edns,
            ad: query.ad,
            ..sub
        };
        // `sub` carries the query's CD bit and EDNS (DO), so its key is the one.
        let (key, _) = question_key(&sub);
        let fetched = self.fetch(&key, &lower, &sub, deadline, query.rd).await?;
        Message::from_vec(&fetched.wire).ok()
    }

    /// BIND 9.18's answer to an RD=0 query with nothing cached: NOERROR, no
    /// answer, the NS set of the closest zone cut it knows in AUTHORITY (the root
    /// hints at worst) and their cached addresses in ADDITIONAL; RA set, AA clear.
    /// Without OPT (see [`Pipeline::finish`]).
    fn referral(&self, query: &Query<'_>, lower_qname: &[u8]) -> Option<Vec<u8>> {
        let (ns, glue) = self.closest_ns(lower_qname, query.qtype == DS, true)?;
        let p = query.packet;
        let mut head = Vec::with_capacity(HEADER_LEN + query.question_wire().len());
        head.extend_from_slice(&p[..2]);
        // QR, opcode and RD copied; RA; CD copied; NOERROR.
        head.push(0x80 | (p[2] & 0x79));
        head.push(0x80 | (p[3] & 0x10));
        head.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
        head.extend_from_slice(query.question_wire());
        let mut m = Message::from_vec(&head).ok()?;
        m.add_authorities(ns);
        m.add_additionals(glue);
        m.to_vec().ok()
    }

    /// BIND adds the zone's NS set (and cached addresses) to a positive RD=0
    /// answer from its cache when it has that NS set cached (not from the hints).
    /// `wire` is the cached answer, without OPT.
    fn add_zone_ns(&self, wire: &mut Vec<u8>, query: &Query<'_>, lower_qname: &[u8]) {
        let Ok(mut m) = Message::from_vec(wire) else {
            return;
        };
        if m.metadata.response_code != hickory_proto::op::ResponseCode::NoError
            || m.answers.is_empty()
            || !m.authorities.is_empty()
        {
            return;
        }
        let Some((ns, glue)) = self.closest_ns(lower_qname, query.qtype == DS, false) else {
            return;
        };
        // An NS query answered by that very NS set: nothing to add.
        if m.answers.iter().any(|a| ns.iter().any(|n| n == a)) {
            return;
        }
        m.add_authorities(ns);
        let glue: Vec<Record> = glue
            .into_iter()
            .filter(|g| {
                !m.additionals
                    .iter()
                    .any(|a| a.name == g.name && a.data == g.data)
            })
            .collect();
        m.add_additionals(glue);
        if let Ok(out) = m.to_vec() {
            *wire = out;
        }
    }

    /// The NS records of the closest zone at or above `lower_name` (strictly above
    /// when `above`, as for DS) whose NS set is in the packet cache, with the
    /// cached addresses of those servers; with `hints`, the root hints when none is.
    ///
    /// BIND looks in its cache of records; Sekisho's cache holds answers, so this
    /// finds the NS sets that some client asked for (and the glue that came with
    /// them), not the cuts the recursor learnt from referrals.
    fn closest_ns(
        &self,
        lower_name: &[u8],
        above: bool,
        hints: bool,
    ) -> Option<(Vec<Record>, Vec<Record>)> {
        let mut pos = 0;
        if above && lower_name.first().is_some_and(|&l| l != 0) {
            pos = 1 + usize::from(lower_name[0]);
        }
        while let Some(&len) = lower_name.get(pos) {
            let suffix = &lower_name[pos..];
            if let (Some(m), Some(owner)) = (self.cached(suffix, NS), name_from_wire(suffix)) {
                let ns: Vec<Record> = m
                    .answers
                    .iter()
                    .filter(|r| r.record_type() == RecordType::NS && r.name == owner)
                    .cloned()
                    .collect();
                if m.metadata.response_code == hickory_proto::op::ResponseCode::NoError
                    && !ns.is_empty()
                {
                    let glue = self.glue(&ns, &m.additionals);
                    return Some((ns, glue));
                }
            }
            if len == 0 {
                break;
            }
            pos += 1 + usize::from(len);
        }
        if !hints {
            return None;
        }
        let ns = self
            .root_ns
            .iter()
            .map(|n| {
                Record::from_rdata(
                    Name::root(),
                    ROOT_HINTS_TTL,
                    RData::NS(hickory_proto::rr::rdata::NS(n.clone())),
                )
            })
            .collect();
        Some((ns, Vec::new()))
    }

    /// Cached addresses of the servers named by `ns`: their own A/AAAA answers in
    /// the cache first, then the glue that came with the NS answer (`additional`).
    fn glue(&self, ns: &[Record], additional: &[Record]) -> Vec<Record> {
        let mut out: Vec<Record> = Vec::new();
        for target in ns.iter().filter_map(|r| match &r.data {
            RData::NS(t) => Some(&t.0),
            _ => None,
        }) {
            let Ok(lower) = target.to_lowercase().to_bytes() else {
                continue;
            };
            let cached = [A, AAAA]
                .into_iter()
                .filter_map(|t| self.cached(&lower, t))
                .flat_map(|m| m.answers);
            let from_ns = additional.iter().cloned();
            for r in cached.chain(from_ns) {
                let addr = matches!(r.record_type(), RecordType::A | RecordType::AAAA);
                if addr
                    && r.name == *target
                    && !out.iter().any(|o| o.name == r.name && o.data == r.data)
                {
                    out.push(r);
                }
            }
        }
        out
    }

    /// A cached answer for (`lower_name`, `qtype`, IN) as asked without DO and
    /// CD, decoded; `None` when not cached.
    fn cached(&self, lower_name: &[u8], qtype: u16) -> Option<Message> {
        let mut key = Vec::with_capacity(lower_name.len() + 5);
        PacketCache::key_into(lower_name, qtype, wire::class::IN, false, false, &mut key);
        let echo = ClientEcho {
            id: 0,
            rd: false,
            cd: false,
            wants_ad: false,
            qname_wire: lower_name,
        };
        let mut out = Vec::new();
        self.cache.lookup(&key, &echo, Instant::now(), &mut out)?;
        Message::from_vec(&out).ok()
    }

    /// A client address as a line of no zone shows it (`log-client-ip`).
    fn client_label(&self, ip: IpAddr) -> String {
        self.outputs.label(ip)
    }

    /// A datagram longer than a UDP worker keeps, of which `packet` is the
    /// start: no query is that long, so it is refused as [`Pipeline::reject`]
    /// refuses what its start shows, or as trailing data (FORMERR).
    pub fn reject_cut(&self, packet: &[u8], out: &mut Vec<u8>) -> Step {
        let e = match wire::parse_query(packet) {
            Err(e) => e,
            Ok(_) => WireError::Malformed(wire::Malformed::TrailingData),
        };
        self.reject(packet, e, out)
    }

    /// Answer a packet that failed staged decoding.
    pub fn reject(&self, packet: &[u8], e: WireError, out: &mut Vec<u8>) -> Step {
        let buf = self.config.load().edns_buffer_size;
        match e {
            WireError::TooShort => {
                self.metrics.refused(Refusal::Malformed);
                Step::Drop
            }
            WireError::IsResponse => {
                self.metrics.refused(Refusal::Response);
                Step::Drop
            }
            WireError::NotImplemented { .. } => {
                self.metrics.refused(Refusal::NotImp);
                *out = wire::error_response(packet, None, rcode::NOTIMP, buf);
                self.metrics.response(rcode::NOTIMP, Source::Local);
                Step::Reply
            }
            WireError::Malformed(m) => {
                tracing::debug!(reason = m.as_label(), "malformed query");
                self.metrics.refused(Refusal::Malformed);
                *out = wire::error_response(packet, None, rcode::FORMERR, buf);
                self.metrics.response(rcode::FORMERR, Source::Local);
                Step::Reply
            }
            WireError::BadVersion => {
                self.metrics.refused(Refusal::BadVers);
                *out = wire::badvers_response(packet, buf);
                self.metrics.response(6, Source::Local);
                Step::Reply
            }
        }
    }

    /// A SERVFAIL for `query`, counted.
    fn servfail(&self, packet: &[u8], query: &Query<'_>, started: Instant) -> Vec<u8> {
        let out = wire::error_response(
            packet,
            Some(query),
            rcode::SERVFAIL,
            self.config.load().edns_buffer_size,
        );
        self.metrics.response(rcode::SERVFAIL, Source::Local);
        self.metrics
            .request_duration
            .observe(started.elapsed().as_secs_f64());
        out
    }

    /// Append OPT when the client used EDNS, truncate for UDP if needed,
    /// and count the response.
    fn finish(
        &self,
        out: &mut Vec<u8>,
        query: &Query<'_>,
        proto: Proto,
        source: Source,
        started: Instant,
    ) {
        let buf = self.config.load().edns_buffer_size;
        if let Some(e) = query.edns {
            let ar = u16::from_be_bytes([out[10], out[11]]).saturating_add(1);
            out[10..12].copy_from_slice(&ar.to_be_bytes());
            wire::push_opt(out, buf, e.dnssec_ok, 0);
        }
        fit_udp(out, query, proto, buf);
        self.metrics.response(out[3] & 0x0f, source);
        self.metrics
            .request_duration
            .observe(started.elapsed().as_secs_f64());
    }
}

/// Truncate `out` for `query`'s UDP limit (`buf`: the server's EDNS buffer
/// size) when it came over UDP and does not fit.
fn fit_udp(out: &mut Vec<u8>, query: &Query<'_>, proto: Proto, buf: u16) {
    if proto == Proto::Udp && out.len() > query.udp_limit(buf) {
        *out = wire::truncated_response(out, query, buf);
    }
}

/// The cache key of `query`'s question, and its name in lower case (the
/// key's first bytes).
fn question_key(query: &Query<'_>) -> (Vec<u8>, Vec<u8>) {
    let mut key = Vec::with_capacity(HEADER_LEN + 260);
    PacketCache::key_into(
        query.qname_wire(),
        query.qtype,
        query.qclass,
        query.dnssec_ok(),
        query.cd,
        &mut key,
    );
    let lower_qname = key[..query.qname_wire().len()].to_vec();
    (key, lower_qname)
}

/// Publish the configured bounds of the pipeline's limits (for reports).
fn set_maxima(limits: &sekisho_limits::Limits, config: &PipelineConfig) {
    use sekisho_limits::Limit;
    limits.set_max(
        Limit::RecursiveClients,
        u64::try_from(config.recursive_clients).unwrap_or(u64::MAX),
    );
    limits.set_max(
        Limit::ClientsPerQuery,
        u64::try_from(config.clients_per_query).unwrap_or(u64::MAX),
    );
}

/// RR types the RD=0 answers look up.
const A: u16 = 1;
/// NS.
const NS: u16 = 2;
/// AAAA.
const AAAA: u16 = 28;
/// DS: its referral comes from above the name (the parent serves it).
const DS: u16 = 43;
/// TTL of the root NS set in a referral from the root hints: the root zone's NS
/// TTL, which BIND 9.18's built-in hints carry too (518400 in its RD=0 referrals).
const ROOT_HINTS_TTL: u32 = 518_400;

/// The query we send upstream: lower-cased name, RD=1, CD as the client
/// asked, EDNS with our buffer size and the client's DO bit.
fn upstream_query(query: &Query<'_>, lower_qname: &[u8], buf: u16, dnssec_ok: bool) -> Vec<u8> {
    let mut q = Vec::with_capacity(HEADER_LEN + lower_qname.len() + 4 + 11);
    q.extend_from_slice(&[
        0,
        0,
        0x01,
        if query.cd { 0x10 } else { 0 },
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        1,
    ]);
    q.extend_from_slice(lower_qname);
    q.extend_from_slice(&query.qtype.to_be_bytes());
    q.extend_from_slice(&query.qclass.to_be_bytes());
    wire::push_opt(&mut q, buf, dnssec_ok, 0);
    q
}

/// The client address policy sees: IPv4-mapped IPv6 as IPv4.
fn policy_client(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(client),
        v4 => v4,
    }
}

/// The policy view of a query; `wire` is `qname` in wire form (lower-cased, from the
/// cache key), from which the policy index is probed.
fn policy_query<'a>(
    query: &Query<'_>,
    client: IpAddr,
    qname: &'a Name,
    wire: &'a [u8],
) -> PolicyQuery<'a> {
    PolicyQuery {
        client: policy_client(client),
        qname,
        qname_wire: Some(wire),
        qtype: RecordType::from(query.qtype),
        recursion_desired: query.rd,
        dnssec_ok: query.dnssec_ok(),
    }
}

/// Presentation form of an uncompressed wire name (for the query log).
fn wire_name_text(wire: &[u8]) -> String {
    let mut out = String::with_capacity(wire.len());
    let mut pos = 0;
    while let Some(&len) = wire.get(pos) {
        if len == 0 {
            break;
        }
        for &b in wire.get(pos + 1..pos + 1 + usize::from(len)).unwrap_or(&[]) {
            match b {
                b'.' | b'\\' => {
                    out.push('\\');
                    out.push(char::from(b));
                }
                0x21..=0x7e => out.push(char::from(b)),
                _ => out.push_str(&format!("\\{b:03}")),
            }
        }
        out.push('.');
        pos += 1 + usize::from(len);
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

/// A class as dig prints it: `IN`, `CH`..., `CLASS42` for one without a mnemonic.
fn class_text(class: u16) -> String {
    match hickory_proto::rr::DNSClass::from(class) {
        hickory_proto::rr::DNSClass::Unknown(n) => format!("CLASS{n}"),
        c => c.to_string(),
    }
}

/// A hickory name from an uncompressed wire name.
fn name_from_wire(wire: &[u8]) -> Option<Name> {
    Name::from_bytes(wire).ok()
}

/// A name as BIND prints it in the rpz line (no trailing dot).
/// Policy facts (CNAME chain, addresses, signed) of an answer.
fn facts_of(answer: &[u8], lower_qname: &[u8]) -> Option<Arc<ResponseFacts>> {
    facts_from(&Message::from_vec(answer).ok()?, lower_qname)
}

/// [`facts_of`] an answer already read.
fn facts_from(m: &Message, lower_qname: &[u8]) -> Option<Arc<ResponseFacts>> {
    let qname = name_from_wire(lower_qname)?;
    Some(Arc::new(ResponseFacts::from_response(&qname, m)))
}

/// True for an IPv4 address carried as ::ffff:a.b.c.d.
fn is_v4_mapped(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some())
}

/// Seconds since the Unix epoch (0 if the clock is before it).
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
