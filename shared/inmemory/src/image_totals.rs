use crate::Outage;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::ports::{Counted, ImageCount, ImageTotals, PortError, WindowTotal};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct State {
    counted: BTreeSet<String>,
    /// (window, size label, format) → (bytes, images)
    totals: BTreeMap<(DateTime<Utc>, String, String), (u64, u64)>,
}

/// The image totals tables in memory: the event id and the increment change together, under one
/// lock, as they do in one PostgreSQL transaction.
#[derive(Clone, Default)]
pub struct InMemoryImageTotals {
    state: Arc<Mutex<State>>,
    pub outage: Arc<Outage>,
}

impl InMemoryImageTotals {
    /// Every window's totals, in (window, size label, format) order.
    pub fn all(&self) -> Vec<WindowTotal> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state
            .totals
            .iter()
            .map(|((window_start, size_label, format), (bytes, images))| WindowTotal {
                window_start: *window_start,
                size_label: size_label.clone(),
                format: format.clone(),
                bytes: *bytes,
                images: *images,
            })
            .collect()
    }
}

#[async_trait]
impl ImageTotals for InMemoryImageTotals {
    async fn count(&self, image: ImageCount<'_>) -> Result<Counted, PortError> {
        self.outage.check("image totals")?;
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if !state.counted.insert(image.event_id.to_string()) {
            return Ok(Counted::AlreadyCounted);
        }
        let key = (image.window_start, image.size_label.to_string(), image.format.to_string());
        let total = state.totals.entry(key).or_default();
        *total = (total.0 + image.bytes, total.1 + 1);
        Ok(Counted::Added)
    }

    async fn totals(&self) -> Result<Vec<WindowTotal>, PortError> {
        self.outage.check("image totals")?;
        Ok(self.all())
    }
}
