//! The image totals port: what PostgreSQL can never store is `Rejected` and changes nothing, on
//! the in-memory twin as on the database (bigint's range, no NUL in a text).
use chrono::{DateTime, Utc};
use domain::ports::{Counted, ImageCount, ImageTotals, PortError};

/// `window` and `id` (a prefix for event ids) are the caller's own, so runs against one server
/// do not meet.
pub async fn image_totals(totals: &dyn ImageTotals, window: DateTime<Utc>, id: &str) {
    let big = i64::MAX as u64 - 10;
    let count = |event: &str, label: &'static str, format: &'static str, bytes: u64| {
        let event_id = format!("{id}-{event}");
        async move {
            let image = ImageCount { event_id: &event_id, window_start: window, size_label: label, format, bytes };
            totals.count(image).await
        }
    };
    let rejected = |r: Result<Counted, PortError>, what: &str| {
        assert!(matches!(r, Err(PortError::Rejected(_))), "{what}: {r:?}");
    };
    assert_eq!(count("e1", "large", "jpeg", big).await, Ok(Counted::Added));
    rejected(count("e2", "large", "jpeg", 11).await, "the window's bytes would pass bigint");
    rejected(count("e3", "thumb", "jpeg", i64::MAX as u64 + 1).await, "bytes beyond bigint");
    rejected(count("e4", "thu\0mb", "jpeg", 1).await, "a NUL in the label");
    rejected(count("e5", "thumb", "jp\0eg", 1).await, "a NUL in the format");
    rejected(count("e6\0", "thumb", "jpeg", 1).await, "a NUL in the event id");
    // Nothing of a refused count was kept, the event id included: it counts once it fits.
    assert_eq!(count("e2", "large", "jpeg", 10).await, Ok(Counted::Added), "up to bigint's largest");
    assert_eq!(count("e4", "thumb", "jpeg", 1).await, Ok(Counted::Added));
    let mine: Vec<_> = totals
        .totals()
        .await
        .expect("totals")
        .into_iter()
        .filter(|t| t.window_start == window)
        .map(|t| (t.size_label, t.format, t.bytes, t.images))
        .collect();
    assert_eq!(mine, [("large".into(), "jpeg".into(), i64::MAX as u64, 2), ("thumb".into(), "jpeg".into(), 1, 1)]);
}
