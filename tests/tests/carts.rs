//! cart-cleaner on the embedded estate: a deleted product leaves every cart, page by page through
//! the index by sku; other lines stay; a record retried after an outage part-way finishes the job.
use domain::cloudevent::CloudEvent;
use domain::events::{ProductDeleted, topics};
use domain::ports::{Carts, OutboundMessage, Publisher};
use domain::values::{CustomerId, Sku};
use local::estate::Estate;

fn sku(s: &str) -> Sku {
    Sku::parse(s).expect("sku")
}

async fn fill(estate: &Estate, customers: usize) {
    for i in 0..customers {
        let c = CustomerId::parse(&format!("C-{i:03}")).expect("id");
        estate.carts.put(&c, &sku("MUG-220"), 1).await.expect("cart");
        if i % 2 == 0 {
            estate.carts.put(&c, &sku("TSH-001"), 2).await.expect("cart");
        }
    }
}

async fn delete(estate: &Estate, s: &str) {
    let at = "2026-11-21T11:00:00Z".parse().expect("time");
    let e = CloudEvent::new(
        format!("product-deleted-{s}"),
        "/catalogue",
        at,
        ProductDeleted { sku: sku(s), deleted_at: at },
    );
    estate.bus.publish(OutboundMessage::new(topics::PRODUCT_DELETED, e.key(), e.to_json())).await.expect("published");
}

fn lines(estate: &Estate, s: &str) -> usize {
    estate.carts.all().iter().filter(|(_, line, _)| line.as_str() == s).count()
}

#[tokio::test]
async fn a_deleted_product_leaves_every_cart_and_nothing_else_does() {
    let mut estate = Estate::new();
    fill(&estate, 35).await;
    delete(&estate, "MUG-220").await;
    estate.run_cart_cleaner(10).await.expect("cart-cleaner");
    assert_eq!((lines(&estate, "MUG-220"), lines(&estate, "TSH-001")), (0, 18));
    // Deleted again (a redelivery, or a second deletion event): nothing left to do, no error.
    delete(&estate, "MUG-220").await;
    estate.run_cart_cleaner(10).await.expect("cart-cleaner");
    assert_eq!(estate.stats["cart-cleaner"].dead_lettered, 0);
    let c = CustomerId::parse("C-004").expect("id");
    assert_eq!(estate.carts.cart(&c).await.expect("cart"), [(sku("TSH-001"), 2)]);
}

#[tokio::test]
async fn an_outage_part_way_is_retried_and_the_record_finishes() {
    let mut estate = Estate::new();
    fill(&estate, 35).await;
    delete(&estate, "MUG-220").await;
    // 35 carts in pages of 10: the table fails after the first page's removals.
    let calls_before_failure = 1 + 10;
    estate.carts.outage.fail_after(calls_before_failure, 1);
    estate.run_cart_cleaner(10).await.expect("cart-cleaner");
    assert_eq!(estate.stats["cart-cleaner"].retries, 1);
    assert_eq!(lines(&estate, "MUG-220"), 0);
    assert_eq!(lines(&estate, "TSH-001"), 18);
}
