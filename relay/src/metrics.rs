//! Prometheus metrics: names in one place, the recorder, and what `/metrics` renders.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::error::StartError;

pub const ROOMS_LIVE: &str = "hush_relay_rooms_live";
pub const ROOMS_CREATED: &str = "hush_relay_rooms_created_total";
pub const JOINS: &str = "hush_relay_joins_total";
pub const BURNS: &str = "hush_relay_burns_total";
pub const PAYLOAD_BYTES: &str = "hush_relay_payload_bytes_stored";
pub const STORE_BYTES: &str = "hush_relay_store_bytes";
pub const DELIVERED: &str = "hush_relay_payloads_delivered_total";
pub const EXPIRED_ROOMS: &str = "hush_relay_rooms_expired_total";
pub const EXPIRED_PAYLOADS: &str = "hush_relay_payloads_expired_total";
pub const LONG_POLLS_ACTIVE: &str = "hush_relay_long_polls_active";
pub const RATE_LIMITED: &str = "hush_relay_rate_limited_total";
pub const REQUEST_SECONDS: &str = "hush_relay_request_duration_seconds";
pub const MAILBOX_REGISTRATIONS: &str = "hush_relay_mailbox_registrations_total";
pub const MAILBOX_DROPS: &str = "hush_relay_mailbox_drops_total";
pub const MAILBOX_DELIVERED: &str = "hush_relay_mailbox_messages_fetched_total";

/// Installs the process-wide recorder; the handle renders the text format.
pub fn install() -> Result<PrometheusHandle, StartError> {
    // Long-polls last up to 25 s: the buckets reach past that.
    let buckets = [
        0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 20.0, 26.0, 60.0,
    ];
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(REQUEST_SECONDS.to_owned()), &buckets)
        .map_err(|e| StartError::Metrics(e.to_string()))?
        .install_recorder()
        .map_err(|e| StartError::Metrics(e.to_string()))?;
    describe();
    Ok(handle)
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(ROOMS_LIVE, "Rooms in the store (open or burned)");
    describe_counter!(ROOMS_CREATED, "Rooms created");
    describe_counter!(JOINS, "Join attempts by result");
    describe_counter!(BURNS, "Rooms burned by their sender (failed confirmation)");
    describe_gauge!(PAYLOAD_BYTES, Unit::Bytes, "Payload bytes stored");
    describe_gauge!(
        STORE_BYTES,
        Unit::Bytes,
        "Bytes charged to the memory budget"
    );
    describe_counter!(DELIVERED, "Payloads delivered (deleted by their receiver)");
    describe_counter!(EXPIRED_ROOMS, "Rooms dropped at the end of their TTL");
    describe_counter!(
        EXPIRED_PAYLOADS,
        "Undelivered payloads dropped with their room"
    );
    describe_gauge!(LONG_POLLS_ACTIVE, "Long-polls waiting");
    describe_counter!(RATE_LIMITED, "Requests refused by a per-address limit");
    describe_histogram!(REQUEST_SECONDS, Unit::Seconds, "Request latency by route");
    describe_counter!(
        MAILBOX_REGISTRATIONS,
        "Mailbox registrations by result (created, refreshed)"
    );
    describe_counter!(MAILBOX_DROPS, "Messages dropped in mailboxes (new ones)");
    describe_counter!(
        MAILBOX_DELIVERED,
        "DELETEs of mailbox messages by their owner (once fetched)"
    );
}
