//! The CPU gate: at most N validations compute at once, and the waiting
//! ones take turns by zone.
//!
//! ```text
//!  validate_step / zone_security ── gate.enter(zone).await ──▶ Pass ── verify, hash ── drop(Pass)
//!                                         │ all N passes out
//!                                         ▼
//!                 waiting: keytrap.test. [q1 q2 q3 …]   secure.test. [q9]
//!                 turns:   keytrap.test. ─▶ secure.test. ─▶ keytrap.test. ─▶ …
//! ```
//!
//! Why: signature checks and NSEC3 hashing run off the runtime's workers
//! (`validate::off_runtime`), each on a thread of its own. Without a bound,
//! a flood of queries under a crafted zone (KeyTrap signatures, NSEC3 with
//! many iterations) puts tens of such threads on the CPU at once, so every
//! other resolution (an honest signed zone's answer, and the runtime's own
//! threads receiving answers) gets a small share of it: in the hostile-mix
//! benchmark the misses of healthy zones waited 80-150 ms at the 99th
//! percentile. With the gate, N threads validate (N = the runtime's worker
//! threads), and a zone with many queries waiting gets one turn in the
//! rotation, like any other zone: an honest zone's validation waits for at
//! most one validation per other zone with queries waiting, however many the
//! flood has queued. The per-query work bounds ([`super::validate::Work`])
//! bound each turn.
//!
//! A pass is a guard: dropping it hands the slot to the next zone's first
//! waiter. A waiter that goes away (its resolution's deadline dropped the
//! future) gives back a pass it was handed but did not take.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use hickory_proto::rr::Name;
use tokio::sync::oneshot;

/// At most `slots` passes out at once, handed to waiters zone by zone.
#[derive(Debug)]
pub(crate) struct CpuGate {
    /// Passes at most; 0 = no bound.
    slots: usize,
    /// Passes out and who waits.
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Passes out now.
    out: usize,
    /// Waiters per zone, oldest first.
    waiting: HashMap<Name, VecDeque<oneshot::Sender<()>>>,
    /// Zones with waiters, in turn order.
    turns: VecDeque<Name>,
}

/// Leave to compute, until dropped.
#[derive(Debug)]
#[must_use = "the slot is given back as soon as the pass is dropped"]
pub(crate) struct Pass<'a> {
    /// The gate to give the slot back to; `None` when it has no bound.
    gate: Option<&'a CpuGate>,
}

impl CpuGate {
    /// A gate letting `slots` validations compute at once (0 = any number).
    pub(crate) fn new(slots: usize) -> CpuGate {
        CpuGate {
            slots,
            state: Mutex::new(State::default()),
        }
    }

    /// A pass for work on `zone`'s records: at once when a slot is free and
    /// nobody waits, else at `zone`'s next turn. The future borrows only the
    /// gate.
    pub(crate) fn enter(&self, zone: &Name) -> Entry<'_> {
        if self.slots == 0 {
            return Entry {
                gate: self,
                wait: Wait::Ungated,
            };
        }
        let mut st = self.lock();
        if st.out < self.slots && st.turns.is_empty() {
            st.out += 1;
            return Entry {
                gate: self,
                wait: Wait::Held,
            };
        }
        let (tx, rx) = oneshot::channel();
        match st.waiting.get_mut(zone) {
            Some(q) => q.push_back(tx),
            None => {
                st.waiting.insert(zone.clone(), VecDeque::from([tx]));
                st.turns.push_back(zone.clone());
            }
        }
        Entry {
            gate: self,
            wait: Wait::Queued(rx),
        }
    }

    /// A pass is over: hand its slot to the next zone's first waiter still
    /// there, or free it.
    fn leave(&self) {
        let mut st = self.lock();
        while let Some(zone) = st.turns.pop_front() {
            let Some(q) = st.waiting.get_mut(&zone) else {
                continue;
            };
            let next = q.pop_front();
            if q.is_empty() {
                st.waiting.remove(&zone);
            } else {
                st.turns.push_back(zone);
            }
            // A waiter whose future was dropped is skipped; the slot stays out
            // (counted in `out`) and goes to the one that receives it.
            if next.is_some_and(|tx| tx.send(()).is_ok()) {
                return;
            }
        }
        st.out = st.out.saturating_sub(1);
    }

    /// The state (a poisoned lock still holds consistent state: no update
    /// in it can panic half-way).
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Passes out now.
    #[cfg(test)]
    fn out(&self) -> usize {
        self.lock().out
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        if let Some(gate) = self.gate.take() {
            gate.leave();
        }
    }
}

/// A query on its way through the gate ([`CpuGate::enter`]).
pub(crate) struct Entry<'a> {
    /// The gate.
    gate: &'a CpuGate,
    /// Where it stands.
    wait: Wait,
}

/// Where an [`Entry`] stands.
enum Wait {
    /// The gate has no bound.
    Ungated,
    /// A slot was free: it is this entry's (counted), not yet handed out.
    Held,
    /// Waiting for the zone's turn.
    Queued(oneshot::Receiver<()>),
    /// The pass was handed out.
    Done,
}

impl<'a> Future for Entry<'a> {
    type Output = Pass<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Pass<'a>> {
        let gate = self.gate;
        let pass = match &mut self.wait {
            Wait::Ungated => Pass { gate: None },
            Wait::Held => Pass { gate: Some(gate) },
            Wait::Queued(rx) => match Pin::new(rx).poll(cx) {
                Poll::Ready(Ok(())) => Pass { gate: Some(gate) },
                // The gate never drops a waiter's sender without sending,
                // except when the gate itself goes (and every resolution with it).
                Poll::Ready(Err(_)) => Pass { gate: None },
                Poll::Pending => return Poll::Pending,
            },
            // Polled again after its pass: nothing more to hand out.
            Wait::Done => Pass { gate: None },
        };
        self.wait = Wait::Done;
        Poll::Ready(pass)
    }
}

impl Drop for Entry<'_> {
    fn drop(&mut self) {
        // A slot this entry holds but never handed out is given on, or it is lost.
        let handed = match &mut self.wait {
            Wait::Held => true,
            Wait::Queued(rx) => rx.try_recv().is_ok(),
            Wait::Ungated | Wait::Done => false,
        };
        if handed {
            self.gate.leave();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;
    use std::sync::Arc;

    fn name(s: &str) -> Name {
        Name::from_str(s).expect("name")
    }

    #[tokio::test]
    async fn no_more_than_the_slots_compute_at_once() {
        let gate = CpuGate::new(2);
        let a = gate.enter(&name("a.")).await;
        let b = gate.enter(&name("a.")).await;
        assert_eq!(gate.out(), 2);
        let mut third = Box::pin(gate.enter(&name("b.")));
        assert!(futures_poll(&mut third).is_none(), "both slots out: waits");
        drop(a);
        let c = futures_poll(&mut third).expect("the freed slot went to it");
        assert_eq!(gate.out(), 2);
        drop((b, c));
        assert_eq!(gate.out(), 0);
    }

    /// Poll once without a runtime's help.
    fn futures_poll<'a>(f: &mut Pin<Box<impl Future<Output = Pass<'a>>>>) -> Option<Pass<'a>> {
        let waker = std::task::Waker::noop();
        match f.as_mut().poll(&mut Context::from_waker(waker)) {
            Poll::Ready(p) => Some(p),
            Poll::Pending => None,
        }
    }

    #[tokio::test]
    async fn waiting_zones_take_turns_so_a_flooded_zone_cannot_starve_another() {
        let gate = Arc::new(CpuGate::new(1));
        let first = gate.enter(&name("flood.")).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        // Ten flood queries queue before the honest one.
        for i in 0..10 {
            let (g, o) = (gate.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _p = g.enter(&name("flood.")).await;
                o.lock().expect("order").push(format!("flood{i}"));
            }));
            tokio::task::yield_now().await;
        }
        let (g, o) = (gate.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            let _p = g.enter(&name("honest.")).await;
            o.lock().expect("order").push("honest".to_owned());
        }));
        tokio::task::yield_now().await;
        drop(first);
        for t in tasks {
            t.await.expect("task");
        }
        let order = order.lock().expect("order");
        assert_eq!(order.len(), 11);
        let at = order.iter().position(|s| s == "honest").expect("ran");
        assert!(
            at <= 1,
            "the honest zone's turn came second at the latest: {order:?}"
        );
        assert_eq!(gate.out(), 0);
    }

    #[tokio::test]
    async fn a_waiter_that_goes_away_gives_its_slot_on() {
        let gate = CpuGate::new(1);
        let held = gate.enter(&name("a.")).await;
        let mut gone = Box::pin(gate.enter(&name("a.")));
        assert!(futures_poll(&mut gone).is_none());
        let mut next = Box::pin(gate.enter(&name("b.")));
        assert!(futures_poll(&mut next).is_none());
        // The slot is handed to `gone` (a.'s turn) and it is dropped unpolled.
        drop(held);
        drop(gone);
        let p = futures_poll(&mut next).expect("passed on to the next zone");
        assert_eq!(gate.out(), 1);
        drop(p);
        assert_eq!(gate.out(), 0);
        // A waiter dropped before its turn is skipped.
        let held = gate.enter(&name("a.")).await;
        let mut gone = Box::pin(gate.enter(&name("a.")));
        assert!(futures_poll(&mut gone).is_none());
        drop(gone);
        drop(held);
        assert_eq!(gate.out(), 0);
        let _ = gate.enter(&name("c.")).await;
    }

    #[tokio::test]
    async fn zero_slots_is_no_bound() {
        let gate = CpuGate::new(0);
        let passes: Vec<_> = futures_all(&gate, 100).await;
        assert_eq!(passes.len(), 100);
        assert_eq!(gate.out(), 0);
    }

    async fn futures_all(gate: &CpuGate, n: usize) -> Vec<Pass<'_>> {
        let mut v = Vec::new();
        for _ in 0..n {
            v.push(gate.enter(&name("z.")).await);
        }
        v
    }
}
