//! The checkout demo's notifications: the orders stream delivered a second time from its start,
//! in batches of another size (as after a retried or re-created mapping), and the invariant that
//! every order that reached `paid`, `payment_failed`, `held` or `rejected` has exactly one e-mail
//! of that kind, none when its customer opted out or has no address.
use crate::demo::Verdict;
use crate::estate::{Estate, RunError};
use crate::registry::{FUNCTIONS, Host};
use domain::ports::{Documents, read_document};
use notifier::render::Kind;
use std::collections::{BTreeMap, BTreeSet};

/// Every stream function of the registry reads the orders stream again, in batches of `batch`.
pub async fn stream_again(estate: &mut Estate, batch: usize) -> Result<(), RunError> {
    for f in FUNCTIONS {
        if let Host::DynamoDbStream { table, run } = f.host {
            estate.reset_stream(f.name);
            estate.run_stream(f.name, table, run, batch).await?;
        }
    }
    Ok(())
}

fn state_of(image: &Option<serde_json::Value>) -> Option<String> {
    image.as_ref().and_then(|i| i["state"]["S"].as_str()).map(str::to_string)
}

pub async fn check(estate: &Estate, v: &mut Verdict) -> Result<(), RunError> {
    let err = |e: domain::ports::PortError| RunError(e.to_string());
    // Every (order, kind) the stream called for, with the order's customer.
    let mut called: BTreeMap<(String, Kind), String> = BTreeMap::new();
    for r in estate.orders_stream.all() {
        let (Some(new), old) = (state_of(&r.new_image), state_of(&r.old_image)) else { continue };
        let Some(kind) = Kind::of_change(old.as_deref(), &new) else { continue };
        let image = r.new_image.as_ref().and_then(|i| platform_aws::stream_image::plain_image(i).ok());
        let customer =
            image.as_ref().and_then(|i| i["body"]["record"]["order"]["customer_id"].as_str().map(str::to_string));
        let order = r.keys["pk"]["S"].as_str().unwrap_or_default().to_string();
        called.insert((order, kind), customer.unwrap_or_default());
    }
    let sent: BTreeMap<String, String> = estate.mailer.sent().into_iter().map(|m| (m.message_id, m.to)).collect();
    let mut wrong = Vec::new();
    let (mut emailed, mut not_emailed) = (0, 0);
    let mut ids = BTreeSet::new();
    for ((order, kind), customer) in &called {
        let c = match estate.customers.read(customer, notifier::CUSTOMER_ID).await.map_err(err)? {
            Some(d) => Some(read_document::<notifier::Customer>(&d.body, "customer").map_err(err)?),
            None => None,
        };
        let address = c.filter(|c| !c.opted_out).and_then(|c| c.email);
        let record =
            notifier::record::read(&estate.notifications, &notifier::record::key(order, *kind)).await.map_err(err)?;
        match (address, record) {
            (Some(to), Some(notifier::record::State::Sent { message_id, .. }))
                if sent.get(&message_id) == Some(&to) =>
            {
                emailed += 1;
                ids.insert(message_id);
            }
            (None, None) => not_emailed += 1,
            (address, record) => wrong.push(format!("{order}/{}: {address:?} {record:?}", kind.as_str())),
        }
    }
    // No e-mail that is not one of those: none twice, none for anything else.
    let extra = sent.len() - sent.keys().filter(|id| ids.contains(*id)).count();
    v.check(
        format!(
            "one e-mail per order and outcome ({emailed} sent, {not_emailed} not: opted out or no address; \
             {extra} others; wrong: {wrong:?})"
        ),
        // The storefront leaves every 7th customer opted out and every 11th without an address, so
        // among fifty (order, outcome) pairs some must have gone without an e-mail.
        wrong.is_empty() && extra == 0 && emailed > 0 && (not_emailed > 0 || called.len() < 50),
    );
    Ok(())
}
