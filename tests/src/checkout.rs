//! Checkout events as producers write them, for the tests that feed the checkout functions.
use serde_json::{Value, json};

/// `order.confirmed` for order `id`: one line, EUR 25.00, paid with `tok_visa`.
pub fn order_confirmed(id: &str) -> Value {
    json!({"specversion": "1.0", "id": format!("order-{id}-confirmed"), "source": "/storefront/checkout",
           "type": "com.shop.order.confirmed.v1", "time": "2026-11-21T10:00:00Z", "datacontenttype": "application/json",
           "data": {"order_id": id, "customer_id": "C-1", "ship_to_country": "DE", "confirmed_at": "2026-11-21T10:00:00Z",
                    "total": {"amount_minor": 2500, "currency": "EUR"},
                    "lines": [{"sku": "TSH-001", "quantity": 1, "unit_price": {"amount_minor": 2500, "currency": "EUR"}}],
                    "payment": {"token": "tok_visa", "card_fingerprint": "fp", "card_bin_country": "DE", "billing_country": "DE"}}})
}

/// fraud-scorer's approval of order `id`, a second after its confirmation.
pub fn approved(id: &str) -> Value {
    json!({"specversion": "1.0", "id": format!("fraud-scored-{id}"), "source": "/azure/fraud-scorer",
           "type": "com.shop.fraud.scored.v1", "time": "2026-11-21T10:00:01Z",
           "data": {"order_id": id, "score": 12, "decision": "approve", "reasons": [], "model_version": "v1"}})
}

/// Writes the order that made payment request `r`, as order-updater leaves it once it asked
/// (payment-processor charges only what an order asked). Writing it twice changes nothing.
pub async fn order_asking(orders: &dyn domain::ports::Documents, r: &domain::events::PaymentRequested) {
    let record = orders::testing::awaiting_payment(r);
    orders::store::write_record(orders, &record, None).await.expect("the order written");
}
