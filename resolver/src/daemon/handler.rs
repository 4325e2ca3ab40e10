//! The daemon's answers to `sekishoctl`: each control verb mapped onto the
//! parts built by [`super::build`] (cache, policy store, secondary role,
//! upstream groups).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use sekisho_policy::PolicyStore;
use sekisho_secondary::Distribution;
use sekisho_upstream::Group;
use tokio::sync::mpsc;

use super::Signal;
use crate::control::{self, Reply, Request, Status, UpstreamStatus};
use crate::listen::InFlight;
use crate::pipeline::Pipeline;

/// `rpz top-clients` and `top-names` without `--since`: the last hour.
const TOP_DEFAULT_WINDOW: std::time::Duration = std::time::Duration::from_secs(3600);
/// The longest window: what the heavy-hitter tables keep (a day).
const TOP_MAX_WINDOW: std::time::Duration = std::time::Duration::from_secs(86_400);

/// A running daemon's shared state, for the control handler.
pub(super) struct State {
    /// The query path.
    pub(super) pipeline: Arc<Pipeline>,
    /// The layers in front of it (CHAOS answers are reloaded there).
    pub(super) dispatch: Arc<crate::dispatch::Dispatch>,
    /// Queries in flight.
    pub(super) inflight: Arc<InFlight>,
    /// Open TCP connections.
    pub(super) tcp_connections: Arc<AtomicUsize>,
    /// Forward groups by zone, for status; replaced on reload.
    pub(super) groups: std::sync::Mutex<Vec<(String, Arc<Group>)>>,
    /// Addresses served (changed by a reload).
    pub(super) listen: std::sync::Mutex<Vec<String>>,
    /// Start time.
    pub(super) started: Instant,
    /// To ask the main loop to stop.
    pub(super) signals: mpsc::Sender<Signal>,
    /// Policy zones.
    pub(super) policy: Arc<PolicyStore>,
    /// Transferred policy zones (refresh / retransfer).
    pub(super) distribution: Arc<Distribution>,
    /// The TLS listeners' certificate (`None`: no TLS listener); read again on reload.
    pub(super) server_cert: Option<Arc<crate::tls::ServerCert>>,
    /// Hand-over requests of new processes, to the serve loop.
    pub(super) takeover: mpsc::Sender<(std::os::unix::net::UnixStream, u32)>,
    /// A hand-over is under way (a second request is refused).
    pub(super) handing_over: std::sync::atomic::AtomicBool,
    /// The last hand-over's progress, watched by `upgrade`.
    pub(super) handovers: tokio::sync::watch::Sender<super::upgrade::HandOverEvent>,
}

impl State {
    /// `sekishoctl reload [zone]`: the policy zones (one, or all).
    /// `sekishoctl reload`: the configuration re-read and applied by the
    /// daemon's loop, as on SIGHUP, then every zone file; a refused
    /// configuration changes nothing and loads no zone.
    async fn reload_all(&self) -> Reply {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.signals.send(Signal::ReloadConfig(tx)).await.is_err() {
            return Reply::Error {
                message: "the daemon is stopping".into(),
            };
        }
        match rx.await {
            // (The embedded default, `false`, has no file: the zones and the
            // certificate only.) The certificate is read once more here for the reply.
            Ok(Ok(read)) => {
                let loaded = self.reload_policy(None).await;
                // Transfer tasks of zones the reload added or changed start
                // now, seeded from the saved copies just loaded.
                self.distribution.start_new();
                let reply = match loaded {
                    Reply::Done { message } if read => Reply::Done {
                        message: format!("configuration reloaded; {message}"),
                    },
                    other => other,
                };
                self.reload_cert(reply).await
            }
            Ok(Err(why)) => Reply::Error {
                message: format!("reload refused, nothing changed: {why}"),
            },
            Err(_) => Reply::Error {
                message: "the daemon is stopping".into(),
            },
        }
    }

    async fn reload_policy(&self, zone: Option<&str>) -> Reply {
        match self.policy.load(zone).await {
            Ok(outcomes) => {
                let failed: Vec<String> = outcomes
                    .iter()
                    .filter_map(|o| o.result.as_ref().err().map(|e| format!("{}: {e}", o.zone)))
                    .collect();
                if failed.is_empty() {
                    let lines: Vec<String> = outcomes
                        .iter()
                        .filter_map(|o| {
                            o.result.as_ref().ok().map(|(n, s)| {
                                format!("{}: serial {} {n} rules", o.zone, s.unwrap_or(0))
                            })
                        })
                        .collect();
                    Reply::Done {
                        message: format!(
                            "reloaded {}",
                            if lines.is_empty() {
                                "nothing (no zone files)".into()
                            } else {
                                lines.join(", ")
                            }
                        ),
                    }
                } else {
                    Reply::Error {
                        message: format!(
                            "reload failed, previous version kept: {}",
                            failed.join("; ")
                        ),
                    }
                }
            }
            Err(e) => Reply::Error { message: e },
        }
    }

    /// `sekishoctl reload`: the TLS listeners' certificate and key, read again
    /// (off the runtime's threads); `reply` is the policy reload's, extended.
    /// Bad files keep the certificate in use, and the reply says why.
    async fn reload_cert(&self, reply: Reply) -> Reply {
        let Some(cert) = self.server_cert.clone() else {
            return reply;
        };
        let result = tokio::task::spawn_blocking(move || cert.reload(None))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        match (reply, result) {
            (Reply::Done { message }, Ok(path)) => {
                tracing::info!(cert = %path.display(), "tls certificate reloaded");
                Reply::Done {
                    message: format!(
                        "{message}; TLS certificate reloaded from {}",
                        path.display()
                    ),
                }
            }
            (Reply::Error { message }, Ok(path)) => {
                tracing::info!(cert = %path.display(), "tls certificate reloaded");
                Reply::Error {
                    message: format!(
                        "{message}; TLS certificate reloaded from {}",
                        path.display()
                    ),
                }
            }
            (reply, Ok(_)) => reply,
            (reply, Err(error)) => {
                tracing::error!(%error, "tls certificate reload failed; the certificate in use is kept");
                let before = match reply {
                    Reply::Done { message } | Reply::Error { message } => format!("{message}; "),
                    _ => String::new(),
                };
                Reply::Error {
                    message: format!(
                        "{before}TLS certificate reload failed, previous certificate kept: {error}"
                    ),
                }
            }
        }
    }
}

impl control::Handler for State {
    fn handle(&self, request: Request) -> control::ReplyFuture<'_> {
        Box::pin(async move {
            match request {
                Request::Status => Reply::Status(self.status()),
                Request::Flush => {
                    let n = self.pipeline.cache.flush();
                    // Recursion's own caches (zone cuts, steps, zone verdicts) go too.
                    if let Some(r) = self.pipeline.recursor() {
                        r.flush();
                    }
                    Reply::Done {
                        message: format!("flushed {n} cache entries"),
                    }
                }
                Request::Flushname { name } => match name_and_wire(&name) {
                    Ok((parsed, w)) => {
                        let mut n = self
                            .pipeline
                            .cache
                            .flush_matching(|k| k.len() == w.len() + 5 && k.starts_with(&w));
                        // The recursor's answers, cut and zone state for the name too,
                        // or the next query would refill the packet cache from them.
                        if let Some(r) = self.pipeline.recursor() {
                            n += r.flush_name(&parsed);
                        }
                        Reply::Done {
                            message: format!("flushed {n} cache entries for {name}"),
                        }
                    }
                    Err(e) => Reply::Error { message: e },
                },
                Request::Flushtree { name } => match name_and_wire(&name) {
                    Ok((parsed, w)) => {
                        let n = self.flush_tree(&parsed, &w);
                        Reply::Done {
                            message: format!("flushed {n} cache entries at or below {name}"),
                        }
                    }
                    Err(e) => Reply::Error { message: e },
                },
                Request::NtaAdd { name, lifetime } => self.nta_add(&name, lifetime.as_deref()),
                Request::NtaRemove { name } => {
                    match (name_and_wire(&name), self.pipeline.recursor()) {
                        (Err(e), _) => Reply::Error { message: e },
                        (Ok(_), None) => no_validation(),
                        (Ok((parsed, w)), Some(r)) => {
                            if !r.nta_remove(&parsed) {
                                return Reply::Error {
                                    message: format!("no negative trust anchor at {parsed}"),
                                };
                            }
                            // Answers given unvalidated are judged again.
                            self.flush_tree(&parsed, &w);
                            tracing::info!(name = %parsed, "negative trust anchor removed");
                            Reply::Done {
                                message: format!("negative trust anchor {parsed} removed"),
                            }
                        }
                    }
                }
                Request::RpzList {
                    zone,
                    pattern,
                    offset,
                    limit,
                } => self.rpz_list(&zone, pattern.as_deref(), offset, limit),
                Request::RpzTopClients { zone, since, limit } => {
                    self.rpz_top(&zone, since.as_deref(), limit, true)
                }
                Request::RpzTopNames { zone, since, limit } => {
                    self.rpz_top(&zone, since.as_deref(), limit, false)
                }
                Request::RpzEnable { zone, enabled } => {
                    match self.policy.set_enabled(&zone, enabled) {
                        Err(message) => Reply::Error { message },
                        Ok(changed) => {
                            let state = if enabled { "enabled" } else { "disabled" };
                            if changed {
                                tracing::warn!(zone = %zone, "policy zone {state} by sekishoctl until the next restart");
                            }
                            Reply::Done {
                                message: if changed {
                                    format!("policy zone {zone} {state}")
                                } else {
                                    format!("policy zone {zone} was already {state}")
                                },
                            }
                        }
                    }
                }
                Request::DumpCache { file } => {
                    let p = self.pipeline.clone();
                    let path = std::path::PathBuf::from(&file);
                    match tokio::task::spawn_blocking(move || p.dump_cache(&path)).await {
                        Ok(Ok(n)) => Reply::Done {
                            message: format!("{n} answers written to {file}"),
                        },
                        Ok(Err(e)) => Reply::Error {
                            message: format!("{file}: {e}"),
                        },
                        Err(e) => Reply::Error {
                            message: e.to_string(),
                        },
                    }
                }
                Request::LoadCache { file } => {
                    let p = self.pipeline.clone();
                    let path = std::path::PathBuf::from(&file);
                    // An operator's load is not bound by `save-max-age`: a
                    // dump is read whatever its age (expired answers still go).
                    let any_age = std::time::Duration::from_secs(u64::MAX / 4);
                    match tokio::task::spawn_blocking(move || p.load_cache(&path, any_age)).await {
                        Ok(Ok(n)) => Reply::Done {
                            message: format!("{n} answers loaded from {file}"),
                        },
                        Ok(Err(message)) => Reply::Error { message },
                        Err(e) => Reply::Error {
                            message: e.to_string(),
                        },
                    }
                }
                Request::ReopenLogs => {
                    self.pipeline.outputs().reopen();
                    Reply::Done {
                        message: "log files reopened".into(),
                    }
                }
                Request::NtaList => match self.pipeline.recursor() {
                    None => no_validation(),
                    Some(r) => Reply::Ntas {
                        ntas: r
                            .ntas()
                            .into_iter()
                            .map(|(n, left)| sekisho_api::Nta {
                                name: n.to_string(),
                                seconds_left: left.as_secs(),
                            })
                            .collect(),
                    },
                },
                Request::Reload { zone: Some(zone) } => self.reload_policy(Some(&zone)).await,
                // A whole reload is what SIGHUP does (as BIND's `rndc reload`): the
                // configuration first (the TLS certificate with it), then the zone files.
                Request::Reload { zone: None } => self.reload_all().await,
                Request::Zones => Reply::Zones {
                    zones: self.policy.status(),
                },
                Request::Refresh { zone } => {
                    check_reply(self.distribution.request_check(&zone, false))
                }
                Request::Retransfer { zone } => {
                    check_reply(self.distribution.request_check(&zone, true))
                }
                Request::Test {
                    name,
                    qtype,
                    client,
                } => self.test(&name, qtype.as_deref(), client.as_deref()),
                Request::Stats => {
                    let p = &self.pipeline;
                    p.metrics.refresh(
                        p.cache.len(),
                        p.cache.stats.evictions.load(Ordering::Relaxed),
                        p.cache.bytes() + p.recursor().map_or(0, |r| r.cache_bytes()),
                        &self.policy.status(),
                    );
                    if let Some(r) = p.recursor() {
                        p.metrics.refresh_recursor(r.aggressive_answers());
                    }
                    p.metrics.refresh_outputs_of(p.outputs());
                    let text = String::from_utf8_lossy(&p.metrics.render()).into_owned();
                    let lines = text
                        .lines()
                        .filter(|l| !l.starts_with('#') && !l.is_empty())
                        .map(str::to_owned)
                        .collect();
                    Reply::Stats { lines }
                }
                Request::Limits => Reply::Limits(self.pipeline.metrics.limits.report()),
                Request::Querylog { on } => {
                    self.pipeline.query_log.store(on, Ordering::Relaxed);
                    tracing::info!(query_log = on, "query log switched");
                    Reply::Done {
                        message: format!("query log {}", if on { "on" } else { "off" }),
                    }
                }
                Request::Stop => {
                    let _ = self.signals.try_send(Signal::Stop);
                    Reply::Done {
                        message: "stopping".into(),
                    }
                }
                Request::Upgrade => self.upgrade().await,
                // `control::serve_one` gives these to `take_over`.
                Request::TakeOver { .. } => Reply::Error {
                    message: "a take-over needs the connection itself".into(),
                },
            }
        })
    }

    fn take_over(
        &self,
        stream: std::os::unix::net::UnixStream,
        pid: u32,
    ) -> Result<(), (std::os::unix::net::UnixStream, String)> {
        self.start_take_over(stream, pid)
    }
}

impl State {
    /// Drop what the packet cache and the recursor's caches hold at or below
    /// `name` (`wire`: its lower-case wire form); how many entries went.
    fn flush_tree(&self, name: &hickory_proto::rr::Name, wire: &[u8]) -> usize {
        let mut n = self
            .pipeline
            .cache
            .flush_matching(|k| k.len() >= 5 && is_at_or_below(&k[..k.len() - 5], wire));
        if let Some(r) = self.pipeline.recursor() {
            n += r.flush_tree(name);
        }
        n
    }

    /// `nta add NAME [LIFETIME]`: stop validating the tree for the lifetime
    /// (an hour by default, at most a week) and drop what the caches hold
    /// for it, so that answers failed before are asked for again.
    fn nta_add(&self, name: &str, lifetime: Option<&str>) -> Reply {
        use sekisho_recursor::nta::{DEFAULT_LIFETIME, MAX_LIFETIME};
        let (parsed, w) = match name_and_wire(name) {
            Ok(x) => x,
            Err(e) => return Reply::Error { message: e },
        };
        let life = match lifetime.map(sekisho_conf::parse_duration) {
            None => DEFAULT_LIFETIME,
            Some(Ok(d)) if !d.is_zero() => d.min(MAX_LIFETIME),
            Some(Ok(_)) => {
                return Reply::Error {
                    message: "a negative trust anchor needs a lifetime above 0".into(),
                }
            }
            Some(Err(e)) => return Reply::Error { message: e },
        };
        let Some(r) = self.pipeline.recursor() else {
            return no_validation();
        };
        r.nta_add(&parsed, life);
        let flushed = self.flush_tree(&parsed, &w);
        tracing::info!(name = %parsed, lifetime_s = life.as_secs(), flushed, "negative trust anchor added");
        Reply::Done {
            message: format!(
                "negative trust anchor {parsed} added for {} s",
                life.as_secs()
            ),
        }
    }

    /// `rpz list ZONE [PATTERN]`: one page of the zone's rules now served,
    /// those whose owner contains PATTERN (case-insensitive).
    /// `rpz top-clients` (`clients`) or `rpz top-names`: the heavy hitters of
    /// a zone that exists, over `since` (an hour by default, a day at most).
    fn rpz_top(&self, zone: &str, since: Option<&str>, limit: usize, clients: bool) -> Reply {
        let (apex, _) = match name_and_wire(zone) {
            Ok(x) => x,
            Err(e) => return Reply::Error { message: e },
        };
        if self.pipeline.policy().zone(&apex).is_none() {
            return Reply::Error {
                message: format!("no policy zone {apex}"),
            };
        }
        let since = match since.map(sekisho_conf::parse_duration) {
            None => TOP_DEFAULT_WINDOW,
            Some(Ok(d)) if !d.is_zero() => d.min(TOP_MAX_WINDOW),
            Some(Ok(_)) => {
                return Reply::Error {
                    message: "--since must be longer than zero".into(),
                }
            }
            Some(Err(e)) => return Reply::Error { message: e },
        };
        let outputs = self.pipeline.outputs();
        let top = if clients {
            outputs.top_clients(&apex, since, limit)
        } else {
            outputs.top_names(&apex, since, limit)
        };
        Reply::Top {
            zone: apex.to_ascii(),
            since_seconds: since.as_secs(),
            what: if clients { "clients" } else { "names" }.into(),
            entries: top
                .unwrap_or_default()
                .into_iter()
                .map(|t| sekisho_api::TopEntry {
                    key: t.key,
                    count: t.count,
                    error: t.error,
                })
                .collect(),
        }
    }

    fn rpz_list(&self, zone: &str, pattern: Option<&str>, offset: usize, limit: usize) -> Reply {
        use sekisho_rpz::Action;
        let (apex, _) = match name_and_wire(zone) {
            Ok(x) => x,
            Err(e) => return Reply::Error { message: e },
        };
        let set = self.pipeline.policy();
        let Some(rules) = set.zone(&apex) else {
            return Reply::Error {
                message: format!("no policy zone {apex}"),
            };
        };
        let pattern = pattern.map(str::to_ascii_lowercase);
        let keep = |owner: &hickory_proto::rr::Name| {
            pattern
                .as_deref()
                .is_none_or(|p| owner.to_ascii().to_ascii_lowercase().contains(p))
        };
        let (total, page) = rules.rules_page(keep, offset, limit);
        let rules = page
            .into_iter()
            .map(|r| sekisho_api::RuleLine {
                owner: r.owner.to_ascii(),
                trigger: r.kind.as_str().to_owned(),
                action: r.action.as_str().to_owned(),
                data: match &r.action {
                    Action::LocalData(records) => records
                        .iter()
                        .map(|x| format!("{} {}", x.record_type(), x.data))
                        .collect(),
                    Action::Cname { target, .. } => vec![target.to_ascii()],
                    _ => Vec::new(),
                },
            })
            .collect();
        Reply::Rules {
            zone: apex.to_ascii(),
            total,
            offset,
            rules,
        }
    }

    /// `sekishoctl test NAME [TYPE] [--client IP]`: which rule applies and why.
    fn test(&self, name: &str, qtype: Option<&str>, client: Option<&str>) -> Reply {
        use std::str::FromStr;
        let qname = match hickory_proto::rr::Name::from_ascii(name) {
            Ok(mut n) => {
                n.set_fqdn(true);
                n
            }
            Err(e) => {
                return Reply::Error {
                    message: format!("invalid name {name:?}: {e}"),
                }
            }
        };
        let rtype =
            match qtype.map(|t| hickory_proto::rr::RecordType::from_str(&t.to_ascii_uppercase())) {
                None => hickory_proto::rr::RecordType::A,
                Some(Ok(t)) => t,
                Some(Err(_)) => {
                    return Reply::Error {
                        message: format!("unknown type {}", qtype.unwrap_or_default()),
                    }
                }
            };
        let client_ip: std::net::IpAddr = match client.map(str::parse) {
            None => std::net::IpAddr::from([127, 0, 0, 1]),
            Some(Ok(ip)) => ip,
            Some(Err(_)) => {
                return Reply::Error {
                    message: format!("invalid client address {}", client.unwrap_or_default()),
                }
            }
        };
        let set = self.pipeline.policy();
        if set.zones().is_empty() {
            return Reply::Test {
                lines: vec!["no policy zones are configured".into()],
                matched: false,
            };
        }
        let d = set.explain(client_ip, &qname, rtype, None);
        let mut lines = Vec::new();
        for h in &d.disabled {
            lines.push(format!(
                "{} (zone {} has policy disabled: logged only)",
                h.log_line(&qname, rtype),
                h.zone.name()
            ));
        }
        let matched = match d.hit() {
            Some(h) => {
                lines.push(format!(
                    "zone {} rule {} trigger {} action {} (written {})",
                    h.zone.name(),
                    h.owner,
                    h.kind(),
                    h.action,
                    h.rule_action
                ));
                lines.push(h.log_line(&qname, rtype).to_string());
                true
            }
            None => {
                lines.push(format!(
                    "no client-IP or QNAME rule matches {} from {client_ip} in {} zone(s); response-IP, NSDNAME and NSIP rules need a real answer",
                    qname,
                    set.zones().len()
                ));
                false
            }
        };
        Reply::Test { lines, matched }
    }

    /// Build the `status` output.
    pub(super) fn status(&self) -> Status {
        let groups = self
            .groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let upstreams = groups
            .iter()
            .flat_map(|(zone, g)| {
                g.upstreams.iter().map(move |u| UpstreamStatus {
                    zone: zone.clone(),
                    upstream: u.spec.label.clone(),
                    transport: u.spec.transport.as_str().into(),
                    state: u.state().as_str().into(),
                    outstanding: u.outstanding(),
                })
            })
            .collect();
        Status {
            version: env!("CARGO_PKG_VERSION").into(),
            pid: std::process::id(),
            uptime_seconds: self.started.elapsed().as_secs(),
            listen: self
                .listen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            cache_entries: self.pipeline.cache.len(),
            queries_in_flight: self.inflight.count(),
            tcp_connections: self.tcp_connections.load(Ordering::Relaxed),
            upstreams,
            policy_zones: self.policy.status(),
        }
    }
}

/// The reply to `refresh` / `retransfer`.
fn check_reply(r: Result<String, String>) -> Reply {
    match r {
        Ok(message) => Reply::Done { message },
        Err(message) => Reply::Error { message },
    }
}

/// Lower-cased wire form of a presentation name.
pub(super) fn wire_name(name: &str) -> Result<Vec<u8>, String> {
    name_and_wire(name).map(|(_, w)| w)
}

/// A control argument as a lower-case, fully qualified name and its wire form.
/// The reply to an `nta` verb when nothing is validated here.
fn no_validation() -> Reply {
    Reply::Error {
        message: "no recursion here (forwarding only or validation off): nothing to anchor".into(),
    }
}

fn name_and_wire(name: &str) -> Result<(hickory_proto::rr::Name, Vec<u8>), String> {
    use hickory_proto::serialize::binary::BinEncodable;
    let n = hickory_proto::rr::Name::from_ascii(name)
        .map_err(|e| format!("invalid name {name:?}: {e}"))?;
    let mut n = n.to_lowercase();
    n.set_fqdn(true);
    let w = n
        .to_bytes()
        .map_err(|e| format!("invalid name {name:?}: {e}"))?;
    Ok((n, w))
}

/// True when wire name `name` equals `apex` or lies below it.
fn is_at_or_below(name: &[u8], apex: &[u8]) -> bool {
    let mut pos = 0;
    while pos < name.len() {
        if &name[pos..] == apex {
            return true;
        }
        let len = usize::from(name[pos]);
        if len == 0 {
            return false;
        }
        pos += len + 1;
    }
    false
}
