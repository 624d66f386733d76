//! Single flight: identical concurrent requests (same key) compute once; the others wait for
//! the leader's outcome. A leader that goes away without an outcome (its request was dropped)
//! releases the key, and a waiter takes over.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

pub struct Flights<T> {
    map: Mutex<HashMap<String, watch::Receiver<Option<T>>>>,
}

impl<T> Default for Flights<T> {
    fn default() -> Self {
        Flights {
            map: Mutex::new(HashMap::new()),
        }
    }
}

/// The first request for a key computes; [`Leader::finish`] hands the outcome to the others.
pub struct Leader<T: Clone> {
    flights: Arc<Flights<T>>,
    key: String,
    tx: watch::Sender<Option<T>>,
}

impl<T: Clone> Leader<T> {
    pub fn finish(self, value: T) {
        self.tx.send_replace(Some(value));
    }
}

impl<T: Clone> Drop for Leader<T> {
    fn drop(&mut self) {
        if let Ok(mut map) = self.flights.map.lock() {
            map.remove(&self.key);
        }
    }
}

pub enum Role<T: Clone> {
    Leader(Leader<T>),
    /// Another request computed it.
    Joined(T),
}

impl<T: Clone + Send + Sync + 'static> Flights<T> {
    pub fn in_flight(&self) -> usize {
        self.map.lock().map_or(0, |m| m.len())
    }

    /// Lead the computation of `key`, or wait for the one in flight.
    pub async fn join(self: &Arc<Self>, key: &str) -> Role<T> {
        loop {
            let rx = {
                let mut map = self.map.lock().expect("flight map");
                if let Some(rx) = map.get(key) {
                    rx.clone()
                } else {
                    let (tx, rx) = watch::channel(None);
                    map.insert(key.to_string(), rx);
                    return Role::Leader(Leader {
                        flights: self.clone(),
                        key: key.to_string(),
                        tx,
                    });
                }
            };
            let mut rx = rx;
            if let Ok(v) = rx.wait_for(Option::is_some).await {
                if let Some(v) = v.clone() {
                    return Role::Joined(v);
                }
            }
            // The leader went away without an outcome: try again (maybe as the leader).
            tokio::task::yield_now().await;
        }
    }
}
