/// {{name}}: pushed `order.paid`'s mirror; its dead letters land on Pub/Sub's twin over the bus.
pub fn {{crate}}(e: &Estate) -> Router {
    let function = {{crate}}::{{Type}}::new(Arc::new(InMemoryPubSub::new(e.bus.clone())));
    {{crate}}::app(Arc::new(function), &PushGuard::local())
}
