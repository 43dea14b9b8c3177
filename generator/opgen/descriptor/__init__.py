"""The service descriptor: load (with positions) -> merge blueprint -> validate -> model."""
