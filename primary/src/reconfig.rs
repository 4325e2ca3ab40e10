//! A reload of the primary role (SIGHUP, `sekishoctl reload`), as BIND's
//! `rndc reconfig` applies it:
//!
//! ```text
//!  new config ─▶ zone served before and now ─▶ access swapped (allow-transfer,
//!                                              also-notify, key); data, journal,
//!                                              peers kept; new also-notify targets
//!                                              ─▶ NOTIFY for the current serial
//!             ─▶ zone newly served          ─▶ empty until its next load or transfer
//!                                              (the caller loads the store next)
//!             ─▶ zone no longer served      ─▶ dropped, its NOTIFY task ends
//!  keys       ─▶ swapped: requests are verified with the new secrets from here on
//! ```
//!
//! A transfer already streaming keeps the version and signer it started with.
//! `journal-size` stays as it was for a zone served before and now (the journal
//! was sized when it was built; `sekisho_conf::restart_only_changes` names it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sekisho_conf::{Config, PolicyZone};
use tokio::sync::watch;

use super::{tsig_key, Access, Primary, Served, ZoneData};

/// What a reload did to the served zones (zone names, in configuration order).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reconfigured {
    /// Zones served from now on.
    pub added: Vec<String>,
    /// Zones no longer served.
    pub removed: Vec<String>,
    /// Zones whose `allow-transfer`, `also-notify` or key changed.
    pub changed: Vec<String>,
    /// Zones that sent NOTIFY for their current serial to new `also-notify` targets.
    pub notified: Vec<String>,
}

impl Served {
    /// A served zone for `z`, with no data yet, its key from `config`.
    pub(crate) fn new(z: &PolicyZone, config: &Config) -> Arc<Served> {
        Arc::new(Served {
            name: z.name.clone(),
            label: z.name.to_ascii(),
            access: Mutex::new(Arc::new(Access::of(z, config))),
            retired: watch::channel(false).0,
            journal_size: usize::try_from(z.journal_size).unwrap_or(usize::MAX),
            data: Mutex::new(ZoneData::default()),
            peers: Mutex::new(HashMap::new()),
            changed: watch::channel(0).0,
            file: z.file.clone(),
            allow_update: z.allow_update.clone(),
            allow_update_keys: z.allow_update_keys.clone(),
            jfile: Mutex::new(None),
            written: Mutex::new(None),
            writing: tokio::sync::Mutex::new(()),
        })
    }
}

impl Primary {
    /// Applies a reload's served zones and keys (see the module docs). New
    /// zones get their NOTIFY task, ended by `stop` as at start. Nothing here
    /// can fail: the configuration was checked whole before.
    pub fn reconfigure(
        self: &Arc<Self>,
        config: &Config,
        stop: &watch::Receiver<bool>,
    ) -> Reconfigured {
        let old = self.zones();
        let mut done = Reconfigured::default();
        let mut zones = Vec::new();
        for z in config
            .response_policy
            .zones
            .iter()
            .filter(|z| z.is_served())
        {
            let access = Access::of(z, config);
            let Some(kept) = old.iter().find(|o| o.name == z.name) else {
                let new = Served::new(z, config);
                self.spawn_notifier(&new, stop);
                done.added.push(new.label.clone());
                zones.push(new);
                continue;
            };
            let before = kept.access();
            if *before != access {
                done.changed.push(kept.label.clone());
                // RFC 1996 section 4.7 leaves when to notify to the primary; BIND
                // notifies a target added by `rndc reconfig` of the serial it has.
                let fresh = access
                    .also_notify
                    .iter()
                    .any(|t| !before.also_notify.contains(t));
                *kept.access.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(access);
                if fresh && kept.current().is_some() {
                    kept.changed.send_modify(|n| *n += 1);
                    done.notified.push(kept.label.clone());
                }
            }
            zones.push(kept.clone());
        }
        for o in old.iter() {
            if !zones.iter().any(|z| z.name == o.name) {
                o.retired.send_replace(true);
                done.removed.push(o.label.clone());
            }
        }
        *self.keys.lock().unwrap_or_else(|p| p.into_inner()) =
            Arc::new(config.keys.iter().map(tsig_key).collect());
        *self.zones.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(zones);
        done
    }
}
