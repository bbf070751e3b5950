// BackendModel: see docs/architecture.md. Filled in by its owner.
