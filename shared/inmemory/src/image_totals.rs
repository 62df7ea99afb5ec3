use crate::Outage;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::ports::{Counted, ImageCount, ImageTotals, PortError, WindowTotal};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

/// PostgreSQL's bigint, the type of every number in the tables.
const BIGINT_MAX: u64 = i64::MAX as u64;

fn no_nul(column: &str, text: &str) -> Result<(), PortError> {
    match text.contains('\0') {
        true => Err(PortError::Rejected(format!("{column} holds a NUL, which text cannot"))),
        false => Ok(()),
    }
}

#[derive(Default)]
struct State {
    counted: BTreeSet<String>,
    /// (window, size label, format) → (bytes, images)
    totals: BTreeMap<(DateTime<Utc>, String, String), (u64, u64)>,
}

/// The image totals tables in memory: the event id and the increment change together, under one
/// lock, as they do in one PostgreSQL transaction. What PostgreSQL refuses, this refuses too: a
/// NUL in a text, and any number outside bigint's range (the bytes, or a window's total), with
/// nothing changed.
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
        // In the order PostgreSQL meets them: the bytes before the transaction, the event id,
        // then the window's row.
        if image.bytes > BIGINT_MAX {
            return Err(PortError::Rejected(format!("bytes {} beyond bigint's range", image.bytes)));
        }
        no_nul("event_id", image.event_id)?;
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.counted.contains(image.event_id) {
            return Ok(Counted::AlreadyCounted);
        }
        no_nul("size_label", image.size_label)?;
        no_nul("format", image.format)?;
        let key = (image.window_start, image.size_label.to_string(), image.format.to_string());
        let (bytes, images) = state.totals.get(&key).copied().unwrap_or_default();
        let bigint = |n: Option<u64>| n.filter(|n| *n <= BIGINT_MAX);
        let total = (bigint(bytes.checked_add(image.bytes)), bigint(images.checked_add(1)));
        let (Some(bytes), Some(images)) = total else {
            return Err(PortError::Rejected(format!(
                "the window's total would leave bigint's range ({bytes} + {} bytes)",
                image.bytes
            )));
        };
        state.totals.insert(key, (bytes, images));
        state.counted.insert(image.event_id.to_string());
        Ok(Counted::Added)
    }

    async fn totals(&self) -> Result<Vec<WindowTotal>, PortError> {
        self.outage.check("image totals")?;
        Ok(self.all())
    }
}
