use crate::Outage;
use async_trait::async_trait;
use domain::ports::{Carts, Page, PageToken, PortError};
use domain::values::{CustomerId, Sku};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The carts table: one entry per (customer, sku), listed by sku through an ordered scan as the
/// DynamoDB index `by-sku` (sku, customer id) is queried: pages in customer id order, a token
/// after every full page, the next page starting after the token's customer.
#[derive(Clone, Default)]
pub struct InMemoryCarts {
    items: Arc<Mutex<BTreeMap<(CustomerId, Sku), u32>>>,
    pub outage: Arc<Outage>,
}

impl InMemoryCarts {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(CustomerId, Sku), u32>> {
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every (customer, sku, quantity), for summaries and invariant checks.
    pub fn all(&self) -> Vec<(CustomerId, Sku, u32)> {
        self.lock().iter().map(|((c, s), q)| (c.clone(), s.clone(), *q)).collect()
    }
}

#[async_trait]
impl Carts for InMemoryCarts {
    async fn put(&self, customer: &CustomerId, sku: &Sku, quantity: u32) -> Result<(), PortError> {
        self.outage.check("cart put")?;
        self.lock().insert((customer.clone(), sku.clone()), quantity);
        Ok(())
    }

    async fn remove(&self, customer: &CustomerId, sku: &Sku) -> Result<(), PortError> {
        self.outage.check("cart remove")?;
        self.lock().remove(&(customer.clone(), sku.clone()));
        Ok(())
    }

    async fn holding(
        &self,
        sku: &Sku,
        from: Option<&PageToken>,
        page_size: u32,
    ) -> Result<Page<CustomerId>, PortError> {
        self.outage.check("cart query")?;
        let page_size = page_size.max(1) as usize;
        let items = self.lock();
        let mut customers: Vec<&CustomerId> = items.keys().filter(|(_, s)| s == sku).map(|(c, _)| c).collect();
        customers.sort();
        let after = from.map(|t| t.0.as_str());
        let page: Vec<CustomerId> =
            customers.into_iter().filter(|c| after.is_none_or(|a| c.as_str() > a)).take(page_size).cloned().collect();
        let next = (page.len() == page_size).then(|| PageToken(page[page_size - 1].to_string()));
        Ok(Page { items: page, next })
    }

    async fn cart(&self, customer: &CustomerId) -> Result<Vec<(Sku, u32)>, PortError> {
        self.outage.check("cart read")?;
        Ok(self.lock().iter().filter(|((c, _), _)| c == customer).map(|((_, s), q)| (s.clone(), *q)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> CustomerId {
        CustomerId::parse(s).expect("customer")
    }
    fn s(v: &str) -> Sku {
        Sku::parse(v).expect("sku")
    }

    #[tokio::test]
    async fn holding_pages_through_every_cart_with_the_sku_and_a_full_page_carries_a_token() {
        let carts = InMemoryCarts::default();
        for i in 0..5 {
            carts.put(&c(&format!("C-{i}")), &s("MUG-1"), 1).await.expect("put");
        }
        carts.put(&c("C-9"), &s("TSH-1"), 2).await.expect("put");
        let first = carts.holding(&s("MUG-1"), None, 2).await.expect("page");
        assert_eq!(first.items, [c("C-0"), c("C-1")]);
        let second = carts.holding(&s("MUG-1"), first.next.as_ref(), 2).await.expect("page");
        let third = carts.holding(&s("MUG-1"), second.next.as_ref(), 2).await.expect("page");
        assert_eq!((second.items, third.items.clone(), third.next), (vec![c("C-2"), c("C-3")], vec![c("C-4")], None));
        carts.remove(&c("C-4"), &s("MUG-1")).await.expect("remove");
        carts.remove(&c("C-4"), &s("MUG-1")).await.expect("removing twice is fine");
        let full = carts.holding(&s("MUG-1"), second.next.as_ref(), 2).await.expect("page");
        assert_eq!(full, Page { items: vec![], next: None });
        assert_eq!(carts.cart(&c("C-9")).await.expect("cart"), [(s("TSH-1"), 2)]);
    }
}
