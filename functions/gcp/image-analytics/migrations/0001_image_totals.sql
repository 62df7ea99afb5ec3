-- Per-minute totals of processed images, and the events already counted in them: an event id is
-- inserted in the same transaction as its increment, so a redelivery is counted once.
CREATE TABLE IF NOT EXISTS counted_events (
    event_id   text PRIMARY KEY,
    counted_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS image_totals (
    window_start timestamptz NOT NULL,
    size_label   text        NOT NULL,
    format       text        NOT NULL,
    bytes        bigint      NOT NULL,
    images       bigint      NOT NULL,
    PRIMARY KEY (window_start, size_label, format)
);
