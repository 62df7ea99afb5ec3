//! One stream record as one row of the raw zone (schema `orders_raw` v1, `parquet_file`), or the
//! reason it cannot be one. The new image goes in as plain JSON text (the item as the orders
//! adapter wrote it, `orders::layout`) without the payment token and card fingerprint.
use aws_lambda_events::event::dynamodb::EventRecord;
use chrono::{DateTime, Utc};
use orders::redact::{remove_payment_secrets, still_holds};
pub use platform_aws::stream_image::Unreadable;
use platform_aws::stream_image::{Images, images};

/// Digits of a sequence number as stored: zero-padded, so that text order is number order.
pub const SEQ_DIGITS: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub event_id: String,
    /// INSERT, MODIFY or REMOVE.
    pub event_name: String,
    /// The sequence number, [`SEQ_DIGITS`] digits.
    pub seq: String,
    /// The sequence number as the stream gave it: what a batch item failure names.
    pub sequence_number: String,
    pub change_time: DateTime<Utc>,
    pub order_id: String,
    /// None for a REMOVE.
    pub state: Option<String>,
    pub total_minor: Option<i64>,
    pub currency: Option<String>,
    /// None until the order is confirmed (an item made by an event that came first has none).
    pub customer_id: Option<String>,
    /// The new image as plain JSON text, redacted; None for a REMOVE.
    pub new_image: Option<String>,
}

/// A sequence number as [`SEQ_DIGITS`] digits, or None if it is not a number that fits.
pub fn padded(sequence_number: &str) -> Option<String> {
    let digits = sequence_number.trim_start_matches('0');
    let ok = !sequence_number.is_empty() && sequence_number.bytes().all(|b| b.is_ascii_digit());
    (ok && digits.len() <= SEQ_DIGITS).then(|| format!("{digits:0>SEQ_DIGITS$}"))
}

/// The record as a row.
pub fn read(record: &EventRecord) -> Result<Row, Unreadable> {
    let event_name = record.event_name.clone();
    if !matches!(event_name.as_str(), "INSERT" | "MODIFY" | "REMOVE") {
        return Err(Unreadable::new(
            "unknown_event_name",
            format!("eventName {event_name:?} is not INSERT, MODIFY or REMOVE"),
        ));
    }
    let sequence_number = record.change.sequence_number.clone().unwrap_or_default();
    let seq = padded(&sequence_number).ok_or_else(|| {
        Unreadable::new(
            "bad_sequence_number",
            format!("SequenceNumber {sequence_number:?} is not a number of at most {SEQ_DIGITS} digits"),
        )
    })?;
    if record.change.approximate_creation_date_time.timestamp() == 0 {
        return Err(Unreadable::new("no_change_time", "no ApproximateCreationDateTime: no hour to file it under"));
    }
    let Images { keys, new, .. } = images(record)?;
    let Some(order_id) = keys["pk"].as_str().map(str::to_string) else {
        return Err(Unreadable::new("not_an_item", format!("Keys has no pk text: {keys}")));
    };
    let mut row = Row {
        event_id: record.event_id.clone(),
        event_name,
        seq,
        sequence_number,
        change_time: record.change.approximate_creation_date_time,
        order_id,
        state: None,
        total_minor: None,
        currency: None,
        customer_id: None,
        new_image: None,
    };
    let Some(mut image) = new.filter(|_| row.event_name != "REMOVE") else { return Ok(row) };
    let Some(state) = orders::layout::state_of(&image).map(str::to_string) else {
        return Err(Unreadable::new("not_an_order", "NewImage has no state, top-level or in body.record"));
    };
    let order = &image["body"]["record"]["order"];
    row.total_minor = order["total"]["amount_minor"].as_i64();
    row.currency = order["total"]["currency"].as_str().map(str::to_string);
    row.customer_id = order["customer_id"].as_str().map(str::to_string);
    row.state = Some(state);
    let removed = remove_payment_secrets(&mut image);
    let text = image.to_string();
    if still_holds(&text, &removed) {
        // A copy of a secret under another name: never let it out.
        return Err(Unreadable::new("secret_left", "a payment token or fingerprint occurs elsewhere in the image"));
    }
    row.new_image = Some(text);
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_are_padded_to_forty_digits_and_others_refused() {
        assert_eq!(padded("4217400000000052840195508").as_deref(), Some("0000000000000004217400000000052840195508"));
        assert_eq!(padded("007"), padded("7"));
        assert!(padded("7").expect("a number") < padded("10").expect("a number"));
        assert_eq!(padded(""), None);
        assert_eq!(padded("12a"), None);
        assert_eq!(padded(&"9".repeat(41)), None);
        assert_eq!(padded(&"9".repeat(40)).map(|s| s.len()), Some(40));
    }
}
