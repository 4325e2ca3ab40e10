//! One query, end to end. The order of the stages lives here and only here.
//!
//! ```text
//!  packet ─▶ parse (drop responses, NOTIMP, FORMERR, BADVERS)
//!         ─▶ ACL (REFUSED)
//!         ─▶ packet cache ──hit──▶ answer                       [fast path, no await]
//!         ─▶ forward zone ─▶ upstream group (retries within the deadline)
//!         ─▶ normalise (OPT stripped, AA/AD off, TTLs clamped) ─▶ cache ─▶ answer
//! ```
//!
//! Listeners call [`Pipeline::handle_fast`] inline for every packet. It
//! answers everything that needs no network I/O (cache hits, errors,
//! refusals) without an allocation beyond the caller's reusable buffer, and
//! says [`Step::Resolve`] otherwise; the listener then spawns
//! [`Pipeline::resolve`] for that packet. Policy (RPZ) stages slot in before
//! the cache and after resolution (see `docs/architecture.md`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use ipnet::IpNet;

use crate::cache::{CacheKind, PacketCache, Prepared};
use crate::forward::ForwardTable;
use crate::metrics::{Metrics, Proto, Source};
use crate::wire::{self, rcode, Query, WireError, HEADER_LEN};

/// Settings the pipeline reads on every query.
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
}

/// What the fast path decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `out` holds the answer: send it.
    Reply,
    /// Send nothing (responses, runts).
    Drop,
    /// Needs the network: call [`Pipeline::resolve`] with the packet.
    Resolve,
}

/// Shared state of the query path.
#[derive(Debug)]
pub struct Pipeline {
    /// Settings.
    config: PipelineConfig,
    /// The packet cache.
    pub cache: PacketCache,
    /// Forward zones; replaced whole on reconfiguration.
    pub forwarders: ArcSwap<ForwardTable>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
}

impl Pipeline {
    /// A pipeline over these parts.
    pub fn new(
        config: PipelineConfig,
        cache: PacketCache,
        forwarders: ForwardTable,
        metrics: Arc<Metrics>,
    ) -> Pipeline {
        Pipeline {
            config,
            cache,
            forwarders: ArcSwap::from_pointee(forwarders),
            metrics,
        }
    }

    /// Our EDNS buffer size.
    pub fn edns_buffer_size(&self) -> u16 {
        self.config.edns_buffer_size
    }

    /// Handle `packet` from `client` without waiting on anything.
    /// On [`Step::Reply`], `out` holds the answer, sized for `proto`.
    pub fn handle_fast(
        &self,
        packet: &[u8],
        client: SocketAddr,
        proto: Proto,
        out: &mut Vec<u8>,
        key: &mut Vec<u8>,
    ) -> Step {
        let started = Instant::now();
        let buf = self.config.edns_buffer_size;
        let query = match wire::parse_query(packet) {
            Ok(q) => q,
            Err(e) => return self.reject(packet, e, out),
        };
        self.metrics.query(
            proto,
            client.is_ipv6() && !is_v4_mapped(client.ip()),
            query.qtype,
        );
        let ip = client.ip();
        if !sekisho_conf::allows(&self.config.allow_query, ip)
            || !sekisho_conf::allows(&self.config.allow_recursion, ip)
        {
            self.metrics.refused("acl");
            *out = wire::error_response(packet, Some(&query), rcode::REFUSED, buf);
            self.metrics.response(rcode::REFUSED, Source::Local);
            return Step::Reply;
        }
        if query.opcode != wire::OPCODE_QUERY {
            // NOTIFY is answered by the zone-transfer side once it exists.
            self.metrics.refused("notimp");
            *out = wire::error_response(packet, Some(&query), rcode::NOTIMP, buf);
            self.metrics.response(rcode::NOTIMP, Source::Local);
            return Step::Reply;
        }
        PacketCache::key_into(
            query.qname_wire(),
            query.qtype,
            query.qclass,
            query.dnssec_ok(),
            query.cd,
            key,
        );
        match self
            .cache
            .lookup(key, query.id, query.rd, query.qname_wire(), started, out)
        {
            Some(kind) => {
                match kind {
                    CacheKind::Denial => self.metrics.cache_hits_denial.inc(),
                    _ => self.metrics.cache_hits_success.inc(),
                }
                self.finish(out, &query, proto, Source::Cache, started);
                Step::Reply
            }
            None => {
                self.metrics.cache_misses.inc();
                Step::Resolve
            }
        }
    }

    /// Resolve a packet the fast path could not answer. `None` = send nothing.
    pub async fn resolve(&self, packet: &[u8], proto: Proto) -> Option<Vec<u8>> {
        let started = Instant::now();
        let buf = self.config.edns_buffer_size;
        let query = wire::parse_query(packet).ok()?;
        let deadline = started + self.config.query_timeout;
        let mut key = Vec::with_capacity(HEADER_LEN + 260);
        PacketCache::key_into(
            query.qname_wire(),
            query.qtype,
            query.qclass,
            query.dnssec_ok(),
            query.cd,
            &mut key,
        );
        let lower_qname = &key[..query.qname_wire().len()];
        let forwarders = self.forwarders.load();
        let Some(group) = forwarders.lookup(lower_qname) else {
            tracing::debug!("no forward zone for query and recursion is not available");
            return Some(self.servfail(packet, &query, started));
        };
        let upstream_query = upstream_query(&query, lower_qname, buf);
        let answer = match group.exchange(&upstream_query, deadline).await {
            Ok((answer, _)) => answer,
            Err(e) => {
                tracing::debug!(error = %e, "no upstream answered");
                return Some(self.servfail(packet, &query, started));
            }
        };
        let Some(prepared) = Prepared::new(&answer, self.cache.limits()) else {
            tracing::debug!("upstream answer could not be read");
            return Some(self.servfail(packet, &query, started));
        };
        let mut out = Vec::with_capacity(answer.len() + 11);
        prepared.serve(query.id, query.rd, query.qname_wire(), &mut out);
        self.cache.insert(&key, prepared, Instant::now());
        self.finish(&mut out, &query, proto, Source::Upstream, started);
        Some(out)
    }

    /// Answer a packet that failed staged decoding.
    fn reject(&self, packet: &[u8], e: WireError, out: &mut Vec<u8>) -> Step {
        let buf = self.config.edns_buffer_size;
        match e {
            WireError::TooShort => {
                self.metrics.refused("malformed");
                Step::Drop
            }
            WireError::IsResponse => {
                self.metrics.refused("response");
                Step::Drop
            }
            WireError::NotImplemented { .. } => {
                self.metrics.refused("notimp");
                *out = wire::error_response(packet, None, rcode::NOTIMP, buf);
                self.metrics.response(rcode::NOTIMP, Source::Local);
                Step::Reply
            }
            WireError::Malformed(m) => {
                tracing::debug!(reason = m.as_label(), "malformed query");
                self.metrics.refused("malformed");
                *out = wire::error_response(packet, None, rcode::FORMERR, buf);
                self.metrics.response(rcode::FORMERR, Source::Local);
                Step::Reply
            }
            WireError::BadVersion => {
                self.metrics.refused("badvers");
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
            self.config.edns_buffer_size,
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
        let buf = self.config.edns_buffer_size;
        if let Some(e) = query.edns {
            let ar = u16::from_be_bytes([out[10], out[11]]).saturating_add(1);
            out[10..12].copy_from_slice(&ar.to_be_bytes());
            wire::push_opt(out, buf, e.dnssec_ok, 0);
        }
        if proto == Proto::Udp && out.len() > query.udp_limit(buf) {
            *out = wire::truncated_response(out, query, buf);
        }
        self.metrics.response(out[3] & 0x0f, source);
        self.metrics
            .request_duration
            .observe(started.elapsed().as_secs_f64());
    }
}

/// The query we send upstream: lower-cased name, RD=1, CD as the client
/// asked, EDNS with our buffer size and the client's DO bit.
fn upstream_query(query: &Query<'_>, lower_qname: &[u8], buf: u16) -> Vec<u8> {
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
    wire::push_opt(&mut q, buf, query.dnssec_ok(), 0);
    q
}

/// True for an IPv4 address carried as ::ffff:a.b.c.d.
fn is_v4_mapped(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some())
}
