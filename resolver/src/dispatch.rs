//! The layers in front of the query pipeline: every packet a listener reads
//! is decoded once, then routed by opcode and type.
//!
//! ```text
//!  listener ─▶ parse (staged; errors answered by the pipeline's reject)
//!          ─▶ UDP: rate limit per client prefix ─▶ nothing, or every slip-th an empty TC=1
//!          ─▶ DoT, DoH: the same buckets ────────▶ REFUSED (plain TCP is not limited)
//!          ─▶ opcode NOTIFY ─────────────────────▶ secondary role (allow-notify, TSIG)
//!          ─▶ opcode UPDATE ─────────────────────▶ primary role (allow-update, TSIG), async;
//!                                                  NOTIMP when no zone takes updates
//!          ─▶ class not IN ──────────────────────▶ crate::chaos (version.bind...; allow-query)
//!          ─▶ AXFR/IXFR, SOA at a served apex ───▶ primary role (allow-transfer, TSIG)
//!          ─▶ everything else ───────────────────▶ query pipeline (ACL, policy, cache, resolve)
//!  answer known ─▶ dnstap: the query and the answer, the client shown as the deciding policy says
//! ```
//!
//! Classes other than IN never reach the pipeline: CHAOS queries are answered from
//! the configuration (never resolved, cached or rewritten by policy, as BIND 9.18's
//! `_bind` view answers them) and the rest get BIND 9.18's error codes; see
//! `crate::chaos`. That costs one comparison per packet.
//!
//! The zone-transfer roles keep their own access control, checked before the
//! query ACLs (which are for resolution), as BIND's `allow-notify` and
//! `allow-transfer` are. The pipeline's fast path handles queries only; it
//! knows neither TSIG nor the two roles. Without a primary role configured the
//! transfer layer costs one `Option` test per packet.
//!
//! The rate limit (`crate::ratelimit`) comes first after decoding, before any
//! other work, for UDP, DoT and DoH (not plain TCP: a slipped UDP client
//! retries there); with `queries-per-second = 0` it costs one settings load
//! and a comparison per packet.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;

use sekisho_primary::{Answer, Primary, Updates};
use sekisho_secondary::Distribution;
use sekisho_wire::{self as wire, rcode};

use crate::chaos::{self, ChaosConfig};
use crate::metrics::{Proto, Source};
use crate::pipeline::{Pipeline, Step};
use crate::ratelimit::{RateLimiter, Verdict};

/// The request router the listeners call.
#[derive(Debug)]
pub struct Dispatch {
    /// The query path.
    pipeline: Arc<Pipeline>,
    /// Secondary role: takes NOTIFY (`None`: NOTIFY is refused).
    notify: Option<Arc<Distribution>>,
    /// Primary role: serves AXFR/IXFR and secondaries' SOA queries (`None`: not a primary).
    primary: Option<Arc<Primary>>,
    /// Primary role: DNS UPDATE to zones with `allow-update` (`None`: NOTIMP).
    updates: Option<Arc<Updates>>,
    /// The CHAOS answers (`version.bind`, `hostname.bind`...); swapped whole.
    chaos: ArcSwap<ChaosConfig>,
    /// Queries a second per client prefix (UDP, DoT, DoH).
    rate_limit: Arc<RateLimiter>,
}

impl Dispatch {
    /// Routes to `pipeline`, `notify` and `primary` (the roles are `None` when not
    /// configured), answers CHAOS queries with `chaos` and limits UDP clients with
    /// `rate_limit`.
    pub fn new(
        pipeline: Arc<Pipeline>,
        notify: Option<Arc<Distribution>>,
        primary: Option<Arc<Primary>>,
        chaos: ChaosConfig,
        rate_limit: Arc<RateLimiter>,
    ) -> Dispatch {
        Dispatch {
            pipeline,
            notify,
            primary,
            updates: None,
            chaos: ArcSwap::from_pointee(chaos),
            rate_limit,
        }
    }

    /// The same router, also taking DNS UPDATE to the primary role's zones with
    /// `allow-update` (built after the policy store it publishes through).
    pub fn with_updates(mut self, updates: Option<Arc<Updates>>) -> Dispatch {
        self.updates = updates;
        self
    }

    /// The per-prefix rate limit (its sweeper is run by the daemon; a reload
    /// calls [`RateLimiter::reconfigure`]).
    pub fn rate_limit(&self) -> &Arc<RateLimiter> {
        &self.rate_limit
    }

    /// A reload: answer CHAOS queries with `chaos` (`[server]` identity,
    /// version, hide-identity, hide-version) from now on.
    pub fn reconfigure_chaos(&self, chaos: ChaosConfig) {
        self.chaos.store(Arc::new(chaos));
    }

    /// The query pipeline.
    pub fn pipeline(&self) -> &Arc<Pipeline> {
        &self.pipeline
    }

    /// Handle `packet` from `client`, which came to our address `local`,
    /// without waiting on anything. On [`Step::Reply`], `out` holds the
    /// answer, sized for `proto`.
    pub fn handle_fast(
        &self,
        packet: &[u8],
        client: SocketAddr,
        local: SocketAddr,
        proto: Proto,
        out: &mut Vec<u8>,
        key: &mut Vec<u8>,
    ) -> Step {
        let step = self.route(packet, client, proto, out, key);
        // dnstap: one branch when it is off. A query sent on to `resolve` is
        // written there, with its answer.
        if self.pipeline.outputs().tap().is_some() && step != Step::Resolve {
            let answer = (step == Step::Reply).then_some(&out[..]);
            self.pipeline.outputs().tap_client(
                packet,
                answer,
                client,
                local,
                proto,
                SystemTime::now(),
                None,
            );
        }
        step
    }

    /// The layers of [`Dispatch::handle_fast`], in order.
    fn route(
        &self,
        packet: &[u8],
        client: SocketAddr,
        proto: Proto,
        out: &mut Vec<u8>,
        key: &mut Vec<u8>,
    ) -> Step {
        let query = match wire::parse_query(packet) {
            Ok(q) => q,
            Err(e) => return self.pipeline.reject(packet, e, out),
        };
        self.pipeline.count_query(&query, client, proto);
        if proto != Proto::Tcp {
            match self.rate_limit.check(client.ip()) {
                Verdict::Answer => {}
                // DoT and DoH: nothing to slip (TC=1 means nothing there) and
                // a pipelined or HTTP client would wait for a reply: REFUSED.
                Verdict::Drop | Verdict::Slip if proto != Proto::Udp => {
                    self.limited(packet, &query, out);
                    return Step::Reply;
                }
                Verdict::Drop => return Step::Drop,
                Verdict::Slip => {
                    self.slip(packet, &query, out);
                    return Step::Reply;
                }
            }
        }
        if query.opcode == wire::OPCODE_NOTIFY {
            return self.notify(packet, &query, client, out);
        }
        if query.opcode == wire::OPCODE_UPDATE {
            // Applying an UPDATE waits for the store and the disk: the async path
            // (`Dispatch::resolve` sends it to the primary role).
            if self.updates.is_some() {
                return Step::Resolve;
            }
            // Without a zone taking updates, refused as any opcode not implemented.
            let e = wire::WireError::NotImplemented {
                opcode: wire::OPCODE_UPDATE,
            };
            return self.pipeline.reject(packet, e, out);
        }
        if query.qclass != wire::class::IN {
            return self.other_class(&query, client, proto, out);
        }
        if let Some(p) = &self.primary {
            if query.opcode == wire::OPCODE_QUERY && p.wants(query.qtype, packet, client.ip()) {
                if proto.is_stream() {
                    return Step::Transfer;
                }
                return match p.answer_udp(packet, client) {
                    Some(m) => {
                        *out = m;
                        Step::Reply
                    }
                    None => Step::Drop,
                };
            }
        }
        self.pipeline
            .handle_query(packet, &query, client, proto, out, key)
    }

    /// Resolve a packet [`Dispatch::handle_fast`] said needs the network.
    ///
    /// The future is moved into a box once per query (a UDP worker's task),
    /// all of it whatever the query awaits, so it is kept small: what few
    /// queries await (a stream exchange with a forwarder, the CNAME target of
    /// a rewrite) is boxed where it is awaited. Held inline, a forwarder's
    /// connection set-up made it 14 KB, and copying that was a fifth of the
    /// instructions of an unsigned cache miss.
    pub async fn resolve(
        &self,
        packet: &[u8],
        client: SocketAddr,
        local: SocketAddr,
        proto: Proto,
    ) -> Option<Vec<u8>> {
        if let Some(u) = &self.updates {
            // `route` sends UPDATEs here only when a zone takes them.
            if packet
                .get(2)
                .is_some_and(|f| (f >> 3) & 0x0f == wire::OPCODE_UPDATE)
            {
                return u.answer(packet, client).await;
            }
        }
        let outputs = self.pipeline.outputs();
        if outputs.tap().is_none() {
            return self.pipeline.resolve(packet, client.ip(), proto).await;
        }
        let received = SystemTime::now();
        let mut note = None;
        let answer = self
            .pipeline
            .resolve_noted(packet, client.ip(), proto, &mut note)
            .await;
        outputs.tap_client(
            packet,
            answer.as_deref(),
            client,
            local,
            proto,
            received,
            note.as_ref(),
        );
        answer
    }

    /// Primary role: answers a transfer request that [`Step::Transfer`] announced,
    /// writing one or more messages to `tx` (the connection's writer).
    pub async fn transfer(
        &self,
        packet: &[u8],
        client: SocketAddr,
        tx: tokio::sync::mpsc::Sender<Vec<u8>>,
    ) {
        let Some(p) = &self.primary else {
            return;
        };
        match p.prepare(packet, client, true) {
            Answer::One(m) => {
                let _ = tx.send(m).await;
            }
            Answer::Nothing => {}
            Answer::Stream(plan) => p.stream(*plan, client, tx).await,
        }
    }

    /// A query of a class other than IN: answered by `crate::chaos`, counted as a
    /// local response.
    fn other_class(
        &self,
        query: &wire::Query<'_>,
        client: SocketAddr,
        proto: Proto,
        out: &mut Vec<u8>,
    ) -> Step {
        self.pipeline.log_query(query, client.ip(), proto);
        let outcome = chaos::answer(
            &self.chaos.load(),
            query,
            self.pipeline.allows_query(client.ip()),
            self.pipeline.edns_buffer_size(),
            out,
        );
        if let Some(reason) = outcome.refused {
            self.pipeline.metrics.refused(reason);
        }
        self.pipeline.metrics.response(outcome.rcode, Source::Local);
        Step::Reply
    }

    /// A rate-limited query's turn to slip: an empty answer with TC=1 echoing
    /// the question, so a real client retries over TCP.
    fn slip(&self, packet: &[u8], query: &wire::Query<'_>, out: &mut Vec<u8>) {
        *out = wire::error_response(
            packet,
            Some(query),
            rcode::NOERROR,
            self.pipeline.edns_buffer_size(),
        );
        // error_response always writes a whole header.
        if let Some(flags) = out.get_mut(2) {
            *flags |= 0x02;
        }
        self.pipeline
            .metrics
            .response(rcode::NOERROR, Source::Local);
    }

    /// A rate-limited query over DoT or DoH: REFUSED, echoing the question.
    fn limited(&self, packet: &[u8], query: &wire::Query<'_>, out: &mut Vec<u8>) {
        *out = wire::error_response(
            packet,
            Some(query),
            rcode::REFUSED,
            self.pipeline.edns_buffer_size(),
        );
        self.pipeline
            .metrics
            .response(rcode::REFUSED, Source::Local);
    }

    /// The secondary role answers a NOTIFY (REFUSED when no zone is transferred).
    fn notify(
        &self,
        packet: &[u8],
        query: &wire::Query<'_>,
        client: SocketAddr,
        out: &mut Vec<u8>,
    ) -> Step {
        let step = match &self.notify {
            Some(d) if d.handle_notify(packet, client, out) => Step::Reply,
            Some(_) => Step::Drop,
            None => {
                *out = wire::error_response(
                    packet,
                    Some(query),
                    rcode::REFUSED,
                    self.pipeline.edns_buffer_size(),
                );
                Step::Reply
            }
        };
        if step == Step::Reply && out.len() > 3 {
            self.pipeline.metrics.response(out[3] & 0x0f, Source::Local);
        }
        step
    }
}
