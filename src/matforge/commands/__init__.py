"""CLI sub-commands, one module per area. Each exposes register(app, train_app)."""
