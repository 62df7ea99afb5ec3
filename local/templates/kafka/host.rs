/// {{name}}: no state of its own; dead letters go out through its output binding.
pub fn {{crate}}(_: &Estate) -> Router {
    {{crate}}::app(Arc::new({{crate}}::{{Type}}::default()), usize::MAX)
}
