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
