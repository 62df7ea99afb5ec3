//! The behaviour every adapter of a port must have, written once and run against the in-memory
//! twin (fast tests) and against the emulator (emulator tests): the twin is only as good as its
//! agreement with the real service.
use domain::ports::{Carts, DocumentIndex, Documents, JsonText, PortError, SparseIndex};

mod image_totals;
use domain::values::{CustomerId, Sku};
pub use image_totals::image_totals;
use serde_json::json;

/// Create-only creates, etag-guarded replaces, reads of what was written and of nothing. Each
/// document carries its partition key as `pk`, as a Cosmos container partitioned by `/pk` needs.
pub async fn documents(docs: &dyn Documents) {
    let body = |v: serde_json::Value| JsonText::from(v);
    let e1 = docs
        .create("A-1", "order", body(json!({"id": "order", "pk": "A-1", "state": "confirmed", "n": 1})))
        .await
        .expect("create");
    assert_eq!(
        docs.create("A-1", "order", body(json!({"id": "order", "pk": "A-1", "state": "other"}))).await,
        Err(PortError::AlreadyExists)
    );
    let escaped = "a \"quoted\" \\ line\nwith ünïcode";
    docs.create("A-2", "order", body(json!({"id": "order", "pk": "A-2", "n": 9, "note": escaped})))
        .await
        .expect("same id, another partition");
    let read = docs.read("A-1", "order").await.expect("read").expect("found");
    let fields = |d: &domain::ports::StoredDocument, f: &str| d.body.to_value()[f].clone();
    assert_eq!((fields(&read, "state"), fields(&read, "n"), &read.etag), (json!("confirmed"), json!(1), &e1));
    let other = docs.read("A-2", "order").await.expect("read").expect("found");
    assert_eq!(fields(&other, "note"), json!(escaped), "text comes back as written, escapes and all");
    let e2 = docs
        .replace("A-1", "order", body(json!({"id": "order", "pk": "A-1", "state": "paid", "n": 2})), &e1)
        .await
        .expect("replace");
    assert_ne!(e1, e2);
    assert_eq!(
        docs.replace("A-1", "order", body(json!({"id": "order", "pk": "A-1", "state": "lost update"})), &e1).await,
        Err(PortError::PreconditionFailed),
        "a stale etag must not overwrite"
    );
    let read = docs.read("A-1", "order").await.expect("read").expect("found");
    assert_eq!((fields(&read, "state"), &read.etag), (json!("paid"), &e2));
    assert_eq!(docs.read("A-1", "nothing").await.expect("read"), None);
    assert_eq!(docs.read("A-404", "order").await.expect("read"), None);
}

fn customer(i: usize) -> CustomerId {
    CustomerId::parse(&format!("C-{i:03}")).expect("customer")
}

/// Carts listed by sku a page at a time in customer order, every cart holding it exactly once,
/// and removals that are idempotent.
pub async fn carts(carts: &dyn Carts) {
    let (mug, tee) = (Sku::parse("MUG-1").expect("sku"), Sku::parse("TSH-1").expect("sku"));
    for i in 0..7 {
        carts.put(&customer(i), &mug, 1 + i as u32).await.expect("put");
    }
    carts.put(&customer(3), &tee, 2).await.expect("put");
    let (mut seen, mut from, mut pages) = (Vec::new(), None, 0);
    loop {
        let page = carts.holding(&mug, from.as_ref(), 3).await.expect("page");
        assert!(page.items.len() <= 3);
        seen.extend(page.items);
        pages += 1;
        match page.next {
            Some(next) => from = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, (0..7).map(customer).collect::<Vec<_>>(), "every cart once, in customer order");
    assert!(pages >= 3, "7 carts in pages of 3");
    carts.remove(&customer(3), &mug).await.expect("remove");
    carts.remove(&customer(3), &mug).await.expect("removing what is gone is fine");
    assert_eq!(carts.cart(&customer(3)).await.expect("cart"), [(tee.clone(), 2)]);
    let first = carts.holding(&mug, None, 10).await.expect("page");
    assert_eq!(first.items.len(), 6);
    assert!(!first.items.contains(&customer(3)));
}

/// S3's semantics: create-only puts, MD5 entity tags, a version id per write in a versioned
/// bucket, reads of a given version (also after the key was replaced or deleted), `If-Match`
/// reads refused with 412 when the object has another tag, listings by prefix in key order,
/// deletes of what is gone.
pub async fn versioned_objects(s3: &dyn domain::ports::VersionedObjects, bucket: &str) {
    use domain::ports::{NewObject, Revision::*};
    let object = |key: &'static str, bytes: &[u8]| NewObject {
        key,
        bytes: bytes.to_vec(),
        content_type: "image/jpeg",
        cache_control: Some("public, max-age=31536000, immutable"),
    };
    let first = s3.put_new(bucket, object("uploads/SKU-1/front.jpg", b"first")).await.expect("put");
    assert_eq!(first.etag, "8b04d5e3775d298e78455efc5ca404d5", "MD5 of the bytes, unquoted");
    let v1 = first.version_id.clone().expect("a versioned bucket gives version ids");
    assert_eq!(s3.put_new(bucket, object("uploads/SKU-1/front.jpg", b"again")).await, Err(PortError::AlreadyExists));
    let front = "uploads/SKU-1/front.jpg";
    let (meta, bytes) = s3.get(bucket, front, Current).await.expect("get").expect("found");
    assert_eq!((bytes.as_slice(), meta.content_type.as_deref()), (&b"first"[..], Some("image/jpeg")));
    assert_eq!(meta.cache_control.as_deref(), Some("public, max-age=31536000, immutable"));
    assert_eq!((meta.etag.as_str(), meta.version_id.as_deref()), (first.etag.as_str(), Some(v1.as_str())));
    let head = s3.head(bucket, front, Current).await.expect("head").expect("found");
    assert_eq!((head.size, head.etag), (5, first.etag.clone()));
    let (_, pinned) = s3.get(bucket, front, Etag(&first.etag)).await.expect("If-Match").expect("the same tag");
    assert_eq!(pinned, b"first");
    let other_tag = "0123456789abcdef0123456789abcdef";
    assert_eq!(s3.get(bucket, front, Etag(other_tag)).await, Err(PortError::PreconditionFailed), "412");
    assert_eq!(s3.head(bucket, front, Etag(other_tag)).await, Err(PortError::PreconditionFailed), "412");
    assert_eq!(s3.get(bucket, "uploads/SKU-1/none.jpg", Etag(other_tag)).await, Ok(None), "no object: 404");

    // Replaced: delete, then a new upload under the same key; the old version stays readable.
    s3.delete(bucket, front).await.expect("delete");
    assert_eq!(s3.get(bucket, front, Current).await.expect("get"), None);
    assert_eq!(s3.head(bucket, front, Current).await.expect("head"), None);
    assert_eq!(s3.get(bucket, front, Etag(&first.etag)).await, Ok(None), "a delete marker is no object");
    let second = s3.put_new(bucket, object(front, b"second")).await.expect("put after delete");
    assert_ne!(second.version_id.as_deref(), Some(v1.as_str()));
    let (_, old) = s3.get(bucket, front, Version(&v1)).await.expect("get").expect("version 1");
    assert_eq!(old, b"first");
    let head = s3.head(bucket, front, Version(&v1)).await.expect("head").expect("version 1");
    assert_eq!(head.version_id.as_deref(), Some(v1.as_str()));
    assert_eq!(s3.get(bucket, front, Etag(&first.etag)).await, Err(PortError::PreconditionFailed), "replaced");
    assert_eq!(s3.get(bucket, front, Version("nosuchversion0000000000000000000")).await.expect("get"), None);
    s3.delete(bucket, "uploads/SKU-1/nothing.jpg").await.expect("deleting what is not there is fine");

    for key in
        ["processed/SKU-1/front@a/thumb.jpg", "processed/SKU-1/front@a/large.jpg", "processed/SKU-2/x@b/thumb.jpg"]
    {
        s3.put_new(
            bucket,
            NewObject { key, bytes: key.as_bytes().to_vec(), content_type: "image/jpeg", cache_control: None },
        )
        .await
        .expect("put");
    }
    let listed = s3.list(bucket, "processed/SKU-1/").await.expect("list");
    let keys: Vec<&str> = listed.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["processed/SKU-1/front@a/large.jpg", "processed/SKU-1/front@a/thumb.jpg"]);
    assert_eq!(listed[0].size, "processed/SKU-1/front@a/large.jpg".len() as u64);
}

/// The index `sparse_index` checks: hash `shard`, range `due`.
pub const SPARSE: SparseIndex = SparseIndex { name: "by-due", hash: "shard", range: "due" };

/// A sparse index: only documents carrying both keys are in it, listed under their hash value
/// in range order up to the bound given, at most `limit`; a document that drops its keys leaves.
pub async fn sparse_index(docs: &dyn Documents, index: &dyn DocumentIndex) {
    let doc = |pk: &str, keys: Option<(&str, &str)>| {
        let mut v = json!({"id": "order", "pk": pk, "n": 1});
        if let Some((shard, due)) = keys {
            (v["shard"], v["due"]) = (json!(shard), json!(due));
        }
        JsonText::from(v)
    };
    let rows = [
        ("A-1", Some(("0", "2026-11-21T12:00:03.000Z"))),
        ("A-2", Some(("0", "2026-11-21T12:00:01.000Z"))),
        ("A-3", Some(("1", "2026-11-21T12:00:02.000Z"))),
        ("A-4", Some(("0", "2026-11-21T12:09:00.000Z"))),
        ("A-5", None),
    ];
    let mut etags = std::collections::BTreeMap::new();
    for (pk, keys) in rows {
        etags.insert(pk, docs.create(pk, "order", doc(pk, keys)).await.expect("create"));
    }
    let listed = |entries: Vec<domain::ports::IndexEntry>| -> Vec<(String, String)> {
        entries.into_iter().map(|e| (e.partition_key, e.range)).collect()
    };
    // A GSI is eventually consistent: moto answers at once, DynamoDB a moment later.
    let due = index.at_most(&SPARSE, "0", "2026-11-21T12:05:00.000Z", 10).await.expect("query");
    assert_eq!(
        listed(due),
        [
            ("A-2".to_string(), "2026-11-21T12:00:01.000Z".to_string()),
            ("A-1".to_string(), "2026-11-21T12:00:03.000Z".to_string())
        ]
    );
    let first = index.at_most(&SPARSE, "0", "9999", 1).await.expect("query");
    assert_eq!(first.len(), 1, "at most the limit");
    assert_eq!((first[0].partition_key.as_str(), first[0].id.as_str()), ("A-2", "order"));
    assert_eq!(index.at_most(&SPARSE, "1", "9999", 10).await.expect("query").len(), 1);
    assert!(index.at_most(&SPARSE, "7", "9999", 10).await.expect("query").is_empty());
    // Dropping the keys takes a document out of the index; the document itself stays.
    docs.replace("A-2", "order", doc("A-2", None), &etags["A-2"]).await.expect("replace");
    let left = index.at_most(&SPARSE, "0", "9999", 10).await.expect("query");
    assert_eq!(left.iter().map(|e| e.partition_key.as_str()).collect::<Vec<_>>(), ["A-1", "A-4"]);
    let kept = docs.read("A-2", "order").await.expect("read").expect("found");
    assert_eq!(kept.body.to_value()["n"], 1);
    let with_keys = docs.read("A-1", "order").await.expect("read").expect("found");
    assert_eq!(with_keys.body.to_value()["due"], "2026-11-21T12:00:03.000Z", "top-level members read back in the body");
}

/// A raw MIME e-mail as the notifier sends them: a text and an HTML part.
pub fn mime_email(from: &str, to: &str) -> Vec<u8> {
    format!(
        "From: Shop <{from}>\r\nTo: {to}\r\nSubject: Your order A-1\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n--b1\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nThank you.\r\n--b1\r\n\
         Content-Type: text/html; charset=utf-8\r\n\r\n<p>Thank you.</p>\r\n--b1--\r\n"
    )
    .into_bytes()
}

/// The mailer contract (SES v2): an e-mail from a verified sender to a well-formed address is
/// accepted with a message id (returned, for the caller to read it back); a malformed recipient
/// is refused for good; an unverified sender is not sent (the deployment's to fix).
pub async fn mailer(mailer: &dyn domain::ports::Mailer, sender: &str, to: &str) -> String {
    use domain::ports::{MailError, RawEmail};
    let mime = mime_email(sender, to);
    let id = mailer.send_raw(RawEmail { from: sender, to, mime: &mime }).await.expect("sent");
    assert!(!id.is_empty());
    let again = mailer.send_raw(RawEmail { from: sender, to, mime: &mime }).await.expect("sent again");
    assert_ne!(id, again, "no idempotency: each call is an e-mail of its own");
    let malformed = mime_email(sender, "not-an-address");
    let refused = mailer.send_raw(RawEmail { from: sender, to: "not-an-address", mime: &malformed }).await;
    assert!(matches!(refused, Err(MailError::Refused(_))), "{refused:?}");
    let stranger = "someone@unverified.example.net";
    let unsent = mailer.send_raw(RawEmail { from: stranger, to, mime: &mime_email(stranger, to) }).await;
    assert!(matches!(unsent, Err(MailError::Unavailable(_))), "{unsent:?}");
    id
}
