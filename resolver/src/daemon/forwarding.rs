//! The `[[forward-zone]]` table built from the configuration: one upstream
//! group per zone, each upstream with its own transport (its entry's scheme,
//! else the zone's flags), health parameters, TLS settings and metric
//! handles. Built at start-up and again on every reload.

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use sekisho_conf::{Config, UpstreamScheme};
use sekisho_upstream::health::{self, HealthParams};
use sekisho_upstream::{
    https, tls, ForwardTable, Group, Selection, Transport, Upstream, UpstreamSpec,
};

use super::handler::wire_name;
use super::DaemonError;
use crate::metrics::Metrics;

/// Upstream groups built from `[[forward-zone]]`, with their zone names.
pub(super) struct Forwarding {
    /// The lookup table.
    pub(super) table: ForwardTable,
    /// (zone name, group) for probes and status.
    pub(super) groups: Vec<(String, Arc<Group>)>,
}

/// Build the forward zones of `config`.
pub(super) fn build_forwarding(
    config: &Config,
    metrics: &Metrics,
    observer: Option<Arc<dyn sekisho_upstream::Observer>>,
) -> Result<Forwarding, DaemonError> {
    let mut table = Vec::new();
    let mut groups = Vec::new();
    for fz in &config.forward_zones {
        let zone = fz.name.to_ascii();
        // The transport is per address: an entry's own scheme, else the zone's flags.
        let transport_of = |scheme: &UpstreamScheme| match scheme {
            UpstreamScheme::Https { .. } => Transport::Https,
            UpstreamScheme::Tls => Transport::Tls,
            UpstreamScheme::Zone => match (fz.forward_tls_upstream, fz.forward_tcp_upstream) {
                (true, _) => Transport::Tls,
                (false, true) => Transport::Tcp,
                (false, false) => Transport::Udp,
            },
        };
        // One TLS client config per zone (its CA file), and its h2 copy for DoH,
        // built only when some upstream of the zone uses TLS.
        let needs_tls = fz
            .forward_addr
            .iter()
            .any(|a| matches!(transport_of(&a.scheme), Transport::Tls | Transport::Https));
        let tls_config = if needs_tls {
            let dot = tls::client_config(fz.tls_ca_file.as_deref()).map_err(|source| {
                DaemonError::Tls {
                    zone: zone.clone(),
                    source,
                }
            })?;
            let doh = tls::with_alpn_h2(&dot);
            Some((dot, doh))
        } else {
            None
        };
        let hc = &fz.health_check;
        let params = HealthParams {
            mode: match hc.mode {
                sekisho_conf::HealthMode::Lazy => health::Mode::Lazy,
                sekisho_conf::HealthMode::Active => health::Mode::Active,
                sekisho_conf::HealthMode::None => health::Mode::None,
            },
            check_interval: hc.check_interval,
            failed_interval: hc.failed_interval,
            rise: hc.rise,
            max_failures: hc.max_failures,
            threshold: hc.threshold,
            sample_size: hc.sample_size,
            min_sample_count: hc.min_sample_count,
            lazy_mode: match hc.lazy_mode {
                sekisho_conf::LazyMode::TimeoutOnly => health::LazyMode::TimeoutOnly,
                sekisho_conf::LazyMode::TimeoutOrServfail => health::LazyMode::TimeoutOrServfail,
            },
        };
        let mut upstreams = Vec::new();
        for a in &fz.forward_addr {
            let transport = transport_of(&a.scheme);
            let auth = a.auth_name.clone().or_else(|| fz.tls_auth_name.clone());
            let config = match (&tls_config, transport) {
                (Some((dot, _)), Transport::Tls) => Some(dot.clone()),
                (Some((_, doh)), Transport::Https) => Some(doh.clone()),
                _ => None,
            };
            let tls = match config {
                Some(c) => Some((
                    c,
                    tls::server_name(auth.as_deref(), a.ip).map_err(|source| DaemonError::Tls {
                        zone: zone.clone(),
                        source,
                    })?,
                )),
                None => None,
            };
            let label = a.to_string();
            let doh_uri = match (&a.scheme, &tls) {
                (UpstreamScheme::Https { path }, Some((_, name))) => {
                    Some(https::doh_uri(name, a.port, path).map_err(|source| {
                        DaemonError::DohUrl {
                            zone: zone.clone(),
                            upstream: label.clone(),
                            source,
                        }
                    })?)
                }
                _ => None,
            };
            let spec = UpstreamSpec {
                addr: SocketAddr::new(a.ip, a.port),
                transport,
                tls,
                doh_uri,
                label: label.clone(),
            };
            upstreams.push(Arc::new(
                Upstream::new(spec, params.clone(), metrics.upstream(&label))
                    .with_observer(observer.clone()),
            ));
        }
        let selection = match fz.selection {
            sekisho_conf::Selection::Ordered => Selection::Ordered,
            sekisho_conf::Selection::RoundRobin => Selection::RoundRobin,
            sekisho_conf::Selection::LeastOutstanding => Selection::LeastOutstanding,
        };
        let probe = probe_query(&hc.check_name, hc.check_type);
        let group = Arc::new(Group::new(
            upstreams,
            selection,
            fz.timeout,
            probe,
            hc.check_timeout,
        ));
        let apex = wire_name(&fz.name.to_ascii()).unwrap_or_else(|_| vec![0]);
        table.push((apex, group.clone()));
        groups.push((zone, group));
    }
    Ok(Forwarding {
        table: ForwardTable::new(table),
        groups,
    })
}

/// Wire form of the health-check question (RD=1, ID set per send).
fn probe_query(name: &hickory_proto::rr::Name, rtype: hickory_proto::rr::RecordType) -> Vec<u8> {
    let mut m = Message::new(0, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(name.clone(), rtype));
    m.to_vec().unwrap_or_default()
}
