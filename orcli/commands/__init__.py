"""The command layer: one module per command, `common` for what they share. Only this layer prints."""
