//! Admission: counts an app's open connections, in all and per client IP, and
//! refuses a handshake past the app's limits (503).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::config::Limits;

/// Why a handshake was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `max_connections` reached.
    Full,
    /// `max_connections_per_ip` reached for this address.
    FullForIp,
}

/// The open connections of one app.
#[derive(Debug, Default)]
pub(crate) struct Admission {
    open: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// A place held by one connection (or handshake); freed when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    admission: Arc<Admission>,
    ip: IpAddr,
}

impl Admission {
    /// Takes a place for a connection from `ip`, or says which limit is reached.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr, limits: &Limits) -> Result<Slot, Refusal> {
        let mut per_ip = self.per_ip.lock().unwrap_or_else(PoisonError::into_inner);
        if self.open.load(Ordering::Relaxed) >= limits.max_connections {
            return Err(Refusal::Full);
        }
        let from_ip = per_ip.entry(ip).or_insert(0);
        if limits
            .max_connections_per_ip
            .is_some_and(|max| *from_ip >= max)
        {
            return Err(Refusal::FullForIp);
        }
        *from_ip += 1;
        self.open.fetch_add(1, Ordering::Relaxed);
        Ok(Slot {
            admission: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut per_ip = self
            .admission
            .per_ip
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
        self.admission.open.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_in_all_and_per_ip_hold_and_places_come_back() {
        let admission = Arc::new(Admission::default());
        let limits = Limits {
            max_connections: 3,
            max_connections_per_ip: Some(2),
            ..Limits::default()
        };
        let a: IpAddr = "10.0.0.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let b: IpAddr = "10.0.0.2".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let first = admission.admit(a, &limits);
        let _second = admission.admit(a, &limits);
        assert_eq!(admission.admit(a, &limits).err(), Some(Refusal::FullForIp));
        let _third = admission.admit(b, &limits);
        assert_eq!(admission.admit(b, &limits).err(), Some(Refusal::Full));
        drop(first);
        assert!(admission.admit(a, &limits).is_ok());
    }
}
