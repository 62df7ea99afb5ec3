//! Property tests of order-sweeper's trigger: any bytes Lambda might hand it as an EventBridge
//! event are read by the SDK's `CloudWatchEvent` (as `lambda_runtime` reads them) or refused
//! with serde's error, never a panic; an event that reads re-encodes to itself; and the sweeper
//! sweeps exactly the events a schedule rule sends and refuses the rest as `NotScheduled`.
//! Inputs and case count: `property-inputs`.
use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use inmemory::{Bus, InMemoryCarts, InMemoryDocuments};
use order_sweeper::{Rules, SCHEDULED, SweepError, Sweeper};
use orders::store::OrderStore;
use platform_aws::invocation::Invocation;
use proptest::prelude::*;
use std::sync::Arc;

/// A sweeper over empty in-memory stores: nothing is due, so a run it accepts reports nothing.
fn sweeper() -> Sweeper {
    let docs = InMemoryDocuments::default();
    let store = OrderStore {
        orders: Arc::new(docs.clone()),
        carts: Arc::new(InMemoryCarts::default()),
        bus: Arc::new(Bus::new(1)),
    };
    Sweeper { store, index: Arc::new(docs), rules: Rules::default() }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

proptest! {
    #![proptest_config(property_inputs::config())]

    #[test]
    fn scheduled_events_are_swept_or_refused(bytes in property_inputs::mutations(property_inputs::fixtures("aws/eventbridge"))) {
        let Ok(event) = serde_json::from_slice::<CloudWatchEvent>(&bytes) else {
            // Refused by the runtime with serde's error before the handler runs: nothing swept.
            return Ok(());
        };
        let again: CloudWatchEvent = serde_json::from_slice(&serde_json::to_vec(&event).expect("encodes")).expect("re-reads");
        // The detail is opaque to the sweeper (a schedule's is `{}`), and serde_json reads a float
        // only to within an ulp; every field the sweeper reads must come back as it was.
        let without_detail = |e: &CloudWatchEvent| {
            let mut e = e.clone();
            e.detail = None;
            e
        };
        prop_assert_eq!(without_detail(&again), without_detail(&event));
        let scheduled = (event.source.as_deref(), event.detail_type.as_deref()) == (Some(SCHEDULED.0), Some(SCHEDULED.1));
        match runtime().block_on(sweeper().handle(event, &Invocation::one_minute())) {
            Ok(report) => {
                prop_assert!(scheduled, "a run was made for an event that is not a schedule's");
                prop_assert_eq!(report.due, 0);
                prop_assert!(report.reported.is_empty());
            }
            Err(SweepError::NotScheduled { .. }) => prop_assert!(!scheduled, "a schedule's event was refused"),
        }
    }
}

#[test]
fn the_checked_in_fixture_is_a_schedules_event() {
    let event: CloudWatchEvent =
        serde_json::from_slice(&property_inputs::fixture("aws/eventbridge/order-sweeper-scheduled.json"))
            .expect("reads");
    assert_eq!((event.source.as_deref(), event.detail_type.as_deref()), (Some(SCHEDULED.0), Some(SCHEDULED.1)));
    assert!(runtime().block_on(sweeper().handle(event, &Invocation::one_minute())).is_ok());
}
