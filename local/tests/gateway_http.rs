//! payment-processor's HTTP gateway adapter against the runner's test gateway service, over a
//! real socket: the documented tokens, the payment id as idempotency key (a repeat answers the
//! first outcome and charges nothing, and is counted), a timed-out charge looked up, an outage
//! that sent nothing, a key reused with another amount refused, and a gateway that is not there.
use domain::ports::{Charge, ChargeError, ChargeOutcome, PaymentGateway};
use domain::values::{Currency, Money};
use local::gateway_service::GatewayService;
use payment_processor::GATEWAY_TIMEOUT;
use payment_processor::http_gateway::HttpGateway;

fn charge(id: &str, token: &str, amount_minor: i64) -> Charge {
    Charge {
        payment_id: id.into(),
        token: token.into(),
        amount: Money::new(amount_minor, Currency::parse("EUR").expect("EUR")),
    }
}

fn succeeded(id: &str) -> ChargeOutcome {
    ChargeOutcome::Succeeded { reference: format!("ch_{id}") }
}

#[tokio::test]
async fn the_http_adapter_and_the_test_gateway_service_keep_one_ledger_by_payment_id() {
    let service = GatewayService::new(inmemory::TestGateway::default());
    let url = service.serve().await.expect("served");
    let gateway = HttpGateway::new(&url, GATEWAY_TIMEOUT).expect("a client");

    assert_eq!(gateway.charge(&charge("p1", "tok_visa_4242", 4499)).await, Ok(succeeded("p1")));
    let declined = ChargeOutcome::Declined { reason: "card_declined".into() };
    assert_eq!(gateway.charge(&charge("p2", "tok_decline", 100)).await, Ok(declined));

    // A repeat of the key: the first outcome, no second charge, and the request counted.
    assert_eq!(gateway.charge(&charge("p1", "tok_visa_4242", 4499)).await, Ok(succeeded("p1")));
    assert_eq!((service.gateway.charges_for("p1"), service.keys()["p1"].requests), (1, 2));

    // The same key with another amount is refused, nothing charged.
    let reused = gateway.charge(&charge("p1", "tok_visa_4242", 1)).await;
    assert!(matches!(reused, Err(ChargeError::Rejected(ref e)) if e.contains("409")), "{reused:?}");

    // A timeout after the charge was made: unknown, then found by lookup; a retry charges nothing.
    let timed_out = gateway.charge(&charge("p3", "tok_timeout", 100)).await;
    assert!(matches!(timed_out, Err(ChargeError::Unknown(_))), "{timed_out:?}");
    assert_eq!(gateway.lookup("p3").await, Ok(Some(succeeded("p3"))));
    assert_eq!(gateway.charge(&charge("p3", "tok_timeout", 100)).await, Ok(succeeded("p3")));
    assert_eq!(service.gateway.charges_for("p3"), 1);
    assert_eq!(gateway.lookup("p9").await, Ok(None));

    // An outage before sending: nothing charged, and charging again is safe.
    service.gateway.outage.fail_next(1);
    assert!(matches!(gateway.charge(&charge("p4", "tok_visa", 100)).await, Err(ChargeError::NotSent(_))));
    assert_eq!(gateway.charge(&charge("p4", "tok_visa", 100)).await, Ok(succeeded("p4")));
    assert_eq!(service.gateway.charges_for("p4"), 1);

    // No gateway at the URL: nothing was sent.
    let nowhere = HttpGateway::new("http://127.0.0.1:1", GATEWAY_TIMEOUT).expect("a client");
    assert!(matches!(nowhere.charge(&charge("p5", "tok_visa", 100)).await, Err(ChargeError::NotSent(_))));
}

#[tokio::test]
async fn a_key_in_use_by_a_charge_in_progress_is_refused_until_it_ends() {
    let service = GatewayService::new(inmemory::TestGateway::default());
    let url = service.serve().await.expect("served");
    let gateway = HttpGateway::new(&url, GATEWAY_TIMEOUT).expect("a client");
    service.set_delay(std::time::Duration::from_millis(800));
    let p1 = charge("p1", "tok_visa", 100);
    let first = gateway.charge(&p1);
    let second = async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        gateway.charge(&charge("p1", "tok_visa", 100)).await
    };
    let (first, second) = tokio::join!(first, second);
    assert_eq!(first, Ok(succeeded("p1")));
    assert!(matches!(second, Err(ChargeError::NotSent(ref e)) if e.contains("503")), "{second:?}");
    assert_eq!(service.gateway.charges_for("p1"), 1);
    // Once it ended, a repeat answers its outcome.
    assert_eq!(gateway.charge(&charge("p1", "tok_visa", 100)).await, Ok(succeeded("p1")));

    // A caller that gives up mid-charge (its process killed): whether the gateway goes on with
    // that charge or drops it, a retry now and one later charge the payment once in all.
    service.set_delay(std::time::Duration::from_secs(1));
    let p2 = charge("p2", "tok_visa", 100);
    let gave_up = tokio::time::timeout(std::time::Duration::from_millis(300), gateway.charge(&p2));
    assert!(gave_up.await.is_err(), "still charging");
    let now = gateway.charge(&charge("p2", "tok_visa", 100)).await;
    assert!(matches!(&now, Ok(_) | Err(ChargeError::NotSent(_))), "{now:?}");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(gateway.charge(&charge("p2", "tok_visa", 100)).await, Ok(succeeded("p2")));
    assert_eq!(service.gateway.charges_for("p2"), 1);
}
