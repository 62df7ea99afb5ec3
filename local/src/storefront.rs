//! The checkout demo's storefront: a catalogue, customers who fill carts and confirm orders (some
//! fraudulent, some new accounts held for review, tokens that succeed, decline, time out or are
//! unknown, some orders without payment details), and products taken off sale part-way.
use crate::estate::RunError;
use crate::scenario::Rng;
use chrono::{DateTime, Duration, Utc};
use domain::cloudevent::CloudEvent;
use domain::events::{OrderConfirmed, OrderLine, PaymentDetails, ProductDeleted};
use domain::ports::Carts;
use domain::values::{Currency, CustomerId, Money, OrderId, Quantity, Sku};

const CATEGORIES: [&str; 5] = ["apparel", "home", "books", "electronics", "gift-cards"];

pub struct Storefront {
    pub rng: Rng,
    /// Products still for sale: sku, category, price in cents.
    catalogue: Vec<(Sku, &'static str, i64)>,
    pub deleted: Vec<Sku>,
    customers: usize,
    pub start: DateTime<Utc>,
}

impl Storefront {
    /// Signs the customers up (the customers table the notifier reads): most with an address,
    /// some in German, some in a locale without templates (French: they get English), some
    /// opted out or without an address, and one whose name is markup.
    pub async fn sign_up(&self, customers: &dyn domain::ports::Documents) -> Result<(), RunError> {
        for i in 0..self.customers {
            let pk = format!("C-{i:04}");
            let customer = notifier::Customer {
                id: notifier::CUSTOMER_ID.into(),
                pk: pk.clone(),
                name: if i == 3 { "Zoë <script>alert(1)</script>".into() } else { format!("Customer {i}") },
                email: (i % 11 != 10).then(|| format!("c-{i:04}@example.org")),
                locale: Some(["en-GB", "de-DE", "fr-FR"][i % 3].into()),
                opted_out: i % 7 == 6,
            };
            let body = domain::ports::document(&customer).map_err(|e| RunError(e.to_string()))?;
            customers.create(&pk, notifier::CUSTOMER_ID, body).await.map_err(|e| RunError(format!("customer: {e}")))?;
        }
        Ok(())
    }

    pub fn new(seed: u64, orders: usize) -> Self {
        let mut rng = Rng::new(seed);
        let catalogue = (0..30)
            .filter_map(|i| {
                let category = CATEGORIES[i % CATEGORIES.len()];
                let sku = Sku::parse(&format!("{}-{i:03}", &category[..3].to_ascii_uppercase())).ok()?;
                Some((sku, category, 500 + rng.below(20_000) as i64))
            })
            .collect();
        let start =
            DateTime::parse_from_rfc3339("2026-11-23T09:00:00Z").map(|t| t.with_timezone(&Utc)).unwrap_or_default();
        Storefront { rng, catalogue, deleted: Vec::new(), customers: (orders / 3).max(5), start }
    }

    /// The next order, with its lines put in the customer's cart first (as a shopper does).
    pub async fn order(&mut self, i: usize, carts: &dyn Carts) -> Result<CloudEvent<OrderConfirmed>, RunError> {
        let eur = Currency::parse("EUR").map_err(|e| RunError(e.to_string()))?;
        let at = self.start + Duration::seconds(7 * i as i64);
        let customer = CustomerId::parse(&format!("C-{:04}", self.rng.below(self.customers as u64)))
            .map_err(|e| RunError(e.to_string()))?;
        let fraud = self.rng.chance(8);
        let review = !fraud && self.rng.chance(5);
        let mut lines: Vec<OrderLine> = Vec::new();
        for _ in 0..1 + self.rng.below(4) {
            let (sku, category, price) = self.catalogue[self.rng.below(self.catalogue.len() as u64) as usize].clone();
            if lines.iter().any(|l| l.sku == sku) || (fraud && category != "gift-cards" && !lines.is_empty()) {
                continue;
            }
            let quantity = Quantity::new(1 + self.rng.below(3) as i64).map_err(|e| RunError(e.to_string()))?;
            carts.put(&customer, &sku, quantity.get()).await.map_err(|e| RunError(format!("cart: {e}")))?;
            lines.push(OrderLine {
                sku,
                quantity,
                unit_price: Money::new(price, eur),
                category: Some(category.into()),
            });
        }
        let total = lines.iter().map(|l| l.unit_price.amount_minor * i64::from(l.quantity.get())).sum();
        let token = match self.rng.below(100) {
            0..80 => format!("tok_visa_{i}"),
            80..86 => "tok_decline".into(),
            86..90 => "tok_insufficient_funds".into(),
            90..94 => "tok_timeout".into(),
            _ => format!("tok_unknown_{i}"),
        };
        let without_payment = self.rng.chance(3);
        let payment = (!without_payment).then(|| PaymentDetails {
            token,
            card_fingerprint: format!("fp-{}", if fraud { 9_999 } else { i }),
            card_bin_country: if fraud { "NG" } else { "DE" }.into(),
            billing_country: "DE".into(),
        });
        let data = OrderConfirmed {
            order_id: OrderId::parse(&format!("D-{i:05}")).map_err(|e| RunError(e.to_string()))?,
            customer_id: customer,
            lines,
            total: Money::new(total, eur),
            ship_to_country: if fraud { "FR" } else { "DE" }.into(),
            confirmed_at: at,
            payment,
            customer_since: Some(if fraud || review { at - Duration::hours(3) } else { at - Duration::days(900) }),
        };
        Ok(CloudEvent::new(format!("order-D-{i:05}-confirmed"), "/storefront/checkout", at, data))
    }

    /// Takes a product off sale: it is deleted, and never put in a cart again.
    pub fn delete_one(&mut self, at: DateTime<Utc>) -> CloudEvent<ProductDeleted> {
        let (sku, _, _) = self.catalogue.remove(self.rng.below(self.catalogue.len() as u64) as usize);
        self.deleted.push(sku.clone());
        CloudEvent::new(
            format!("product-deleted-{sku}"),
            "/catalogue/products",
            at,
            ProductDeleted { sku, deleted_at: at },
        )
    }
}
