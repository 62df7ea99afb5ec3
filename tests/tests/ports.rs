//! The in-memory twins against the port contracts the emulator tests hold the real services to.
use estate_tests::contracts;
use inmemory::{InMemoryCarts, InMemoryDocuments};

#[tokio::test]
async fn in_memory_documents_keep_the_documents_contract() {
    contracts::documents(&InMemoryDocuments::default()).await;
}

#[tokio::test]
async fn in_memory_carts_keep_the_carts_contract() {
    contracts::carts(&InMemoryCarts::default()).await;
}

#[tokio::test]
async fn in_memory_s3_keeps_the_versioned_objects_contract() {
    contracts::versioned_objects(&inmemory::InMemoryS3::versioned(), "images").await;
}

#[tokio::test]
async fn in_memory_image_totals_keep_bigint_and_text_as_postgresql_does() {
    let window = "2026-11-23T10:00:00Z".parse().expect("time");
    contracts::image_totals(&inmemory::InMemoryImageTotals::default(), window, "img").await;
}

#[tokio::test]
async fn in_memory_documents_answer_the_sparse_index_query() {
    let docs = InMemoryDocuments::default();
    contracts::sparse_index(&docs, &docs).await;
}

#[tokio::test]
async fn the_in_memory_mailer_keeps_the_mailer_contract_and_has_outages() {
    use domain::ports::{MailError, Mailer, RawEmail};
    let mailer = inmemory::InMemoryMailer::default();
    mailer.verify("shop.example.com");
    let id = contracts::mailer(&mailer, "orders@shop.example.com", "ana@example.org").await;
    let sent = mailer.sent();
    assert_eq!(sent.len(), 2, "the two accepted ones");
    assert_eq!((sent[0].message_id.as_str(), sent[0].to.as_str()), (id.as_str(), "ana@example.org"));
    assert_eq!(sent[0].mime, contracts::mime_email("orders@shop.example.com", "ana@example.org"));
    mailer.outage.fail_next(1);
    let mime = contracts::mime_email("orders@shop.example.com", "ana@example.org");
    let throttled =
        mailer.send_raw(RawEmail { from: "orders@shop.example.com", to: "ana@example.org", mime: &mime }).await;
    assert!(matches!(throttled, Err(MailError::Unavailable(_))), "{throttled:?}");
}
